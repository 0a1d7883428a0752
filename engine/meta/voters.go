package meta

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// Voter is one member of the controller quorum: a node id and its CONTROLLER listener's address.
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Addr is host:port (IPv6 hosts bracketed), the Raft transport address.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

func (v Voter) String() string { return fmt.Sprintf("%d@%s", v.ID, v.Addr()) }

// ParseQuorumVoters parses Kafka's controller.quorum.voters: comma-separated id@host:port entries,
// e.g. "1@127.0.0.1:19092,2@127.0.0.1:19093,3@[::1]:19094". Spaces around entries are allowed;
// ids must be distinct non-negative int32s, addresses distinct, ports 1–65535. An empty string
// means no quorum (the single-node default) and yields no voters.
func ParseQuorumVoters(s string) ([]Voter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var voters []Voter
	ids := map[int32]bool{}
	addrs := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		at := strings.IndexByte(entry, '@')
		if at < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not id@host:port", entry)
		}
		id, err := strconv.ParseInt(entry[:at], 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: bad node id", entry)
		}
		host, portStr, err := net.SplitHostPort(entry[at+1:])
		if err != nil || host == "" {
			return nil, fmt.Errorf("controller.quorum.voters: %q: bad address", entry)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 1 || port > math.MaxUint16 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: bad port", entry)
		}
		v := Voter{ID: int32(id), Host: host, Port: port}
		if ids[v.ID] {
			return nil, fmt.Errorf("controller.quorum.voters: node %d twice", v.ID)
		}
		if addrs[v.Addr()] {
			return nil, fmt.Errorf("controller.quorum.voters: %s twice", v.Addr())
		}
		ids[v.ID], addrs[v.Addr()] = true, true
		voters = append(voters, v)
	}
	return voters, nil
}

// FormatQuorumVoters is the inverse of ParseQuorumVoters.
func FormatQuorumVoters(voters []Voter) string {
	parts := make([]string, len(voters))
	for i, v := range voters {
		parts[i] = v.String()
	}
	return strings.Join(parts, ",")
}
