package meta

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the scripts under testdata/. Each reads as a trace: a command, then what
// it did. Commands (ids and epochs default to the current ones, so scripts name only what matters):
//
//	register id=N [rack=R] [incarnation=N]        RegisterBroker (applied as is)
//	fence id=N [epoch=E] / unfence id=N [epoch=E] FenceBroker / UnfenceBroker records
//	create-topic name=T [configs=(k=v,…)]         CreateTopic; input: one partition a line,
//	                                              "replicas=1,2,3 [isr=…] [leader=N]"
//	create-partitions name=T [first=N]            CreatePartitions; input as create-topic
//	delete-topic name=T
//	alter-config name=T                           input: "k=v" or "-k" lines
//	change-isr topic=T p=N isr=(…) [by=N] [leader-epoch=E] [partition-epoch=E]
//	elect topic=T p=N leader=N isr=(…) [partition-epoch=E] [unclean]
//	alloc-pids broker=N size=N [first=N] [epoch=E]
//	image                                         the whole image
//
// Decisions (print the records decided, then apply them as one batch):
//
//	cluster brokers=(…) [racks=(…)]              a fresh image with those brokers, unfenced
//	decide-create name=T partitions=N rf=N        CreateTopicRecord (+ leader/replica counts)
//	decide-add-partitions name=T total=N          CreatePartitionsRecord
//	decide-register id=N [incarnation=N]          RegisterBrokerRecords
//	decide-fence id=N / decide-unfence id=N       FenceBrokerRecords / UnfenceBrokerRecords
//	heartbeat id=N now=MS                         Liveness.Heartbeat
//	decide-expire now=MS timeout=MS               FenceExpiredRecords
//	decide-preferred                              PreferredLeaderRecords
//	decide-leaderless                             ElectLeaderlessRecords
//	decide-elect topic=T p=N type=preferred|unclean   ElectLeaderRecord
//	decide-delete name=T                          DeleteTopicRecord
//	decide-reassign topic=T p=N [replicas=(…)]    ReassignPartitionRecord (no replicas: cancel)
//	decide-complete                               CompleteReassignmentRecords
//	place brokers=(…) [racks=(…)] partitions=N rf=N [start=N]   PlaceReplicas alone
//
// policy unclean=B sets the cluster default of unclean.leader.election.enable.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		s := &script{img: Empty, live: NewLiveness()}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

type script struct {
	img  *Image
	pol  Policy
	live *Liveness
}

func testTopicID(name string) TopicID {
	sum := sha256.Sum256([]byte(name))
	var id TopicID
	copy(id[:], sum[:])
	return id
}

func incarnation(n int) [16]byte {
	var id [16]byte
	id[15] = byte(n)
	return id
}

func testRegistration(id int32, rack string, inc int) RegisterBroker {
	return RegisterBroker{
		BrokerID:      id,
		IncarnationID: incarnation(inc),
		Endpoints:     []Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9090 + id}},
		Rack:          rack,
	}
}

func int32s(t *testing.T, d *datadriven.TestData, key string) []int32 {
	t.Helper()
	arg, ok := d.Arg(key)
	if !ok {
		d.Fatalf(t, "missing %s", key)
	}
	var out []int32
	for _, v := range arg.Vals {
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			d.Fatalf(t, "%s: %v", key, err)
		}
		out = append(out, int32(n))
	}
	return out
}

func intArg(t *testing.T, d *datadriven.TestData, key string, def int) int {
	t.Helper()
	v := def
	d.MaybeScanArgs(t, key, &v)
	return v
}

func splitIDs(s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		n, _ := strconv.Atoi(f)
		out = append(out, int32(n))
	}
	return out
}

// assignmentsFrom parses input lines "replicas=1,2,3 [isr=1,2] [leader=N]".
func assignmentsFrom(t *testing.T, d *datadriven.TestData) []PartitionAssignment {
	var out []PartitionAssignment
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		if line == "" {
			continue
		}
		a := PartitionAssignment{Leader: -2}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "replicas":
				a.Replicas = splitIDs(v)
			case "isr":
				a.ISR = splitIDs(v)
			case "leader":
				n, _ := strconv.Atoi(v)
				a.Leader = int32(n)
			default:
				d.Fatalf(t, "unknown partition field %q", k)
			}
		}
		if a.ISR == nil {
			a.ISR = clone32(a.Replicas)
		}
		if a.Leader == -2 && len(a.ISR) > 0 {
			a.Leader = a.ISR[0]
		}
		out = append(out, a)
	}
	return out
}

// apply applies recs as one batch and reports the outcome.
func (s *script) apply(recs ...Record) string {
	next, err := ApplyBatch(s.img, recs)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	if err := CheckInvariants(next); err != nil {
		return "INVARIANT BROKEN: " + err.Error() + "\n"
	}
	s.img = next
	return "ok\n"
}

// decided prints the records of a decision, then applies them as one batch.
func (s *script) decided(recs []Record) string {
	var sb strings.Builder
	if len(recs) == 0 {
		return "no records\n"
	}
	before := s.img
	for _, r := range recs {
		fmt.Fprintf(&sb, "%s\n", FormatRecord(before, r))
	}
	res := s.apply(recs...)
	if res != "ok\n" {
		return sb.String() + res
	}
	return sb.String()
}

func (s *script) partitionLine(topic string, p int32) string {
	part := s.img.Partition(topic, p)
	if part == nil {
		return ""
	}
	return fmt.Sprintf("%s-%d %s\n", topic, p, part.String())
}

func (s *script) topicOrZero(name string) TopicID {
	if t := s.img.Topic(name); t != nil {
		return t.ID
	}
	return testTopicID(name)
}

func (s *script) brokerEpoch(id int32) int64 {
	if b := s.img.Broker(id); b != nil {
		return b.Epoch
	}
	return 0
}

func (s *script) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "register":
		id := int32(intArg(t, d, "id", 0))
		var rack string
		d.MaybeScanArgs(t, "rack", &rack)
		res := s.apply(testRegistration(id, rack, intArg(t, d, "incarnation", 1)))
		if b := s.img.Broker(id); b != nil && res == "ok\n" {
			res += b.String() + "\n"
		}
		return res
	case "fence", "unfence":
		id := int32(intArg(t, d, "id", 0))
		epoch := int64(intArg(t, d, "epoch", int(s.brokerEpoch(id))))
		var rec Record = FenceBroker{BrokerID: id, BrokerEpoch: epoch}
		if d.Cmd == "unfence" {
			rec = UnfenceBroker{BrokerID: id, BrokerEpoch: epoch}
		}
		res := s.apply(rec)
		if b := s.img.Broker(id); b != nil && res == "ok\n" {
			res += b.String() + "\n"
		}
		return res
	case "create-topic":
		var name string
		d.ScanArgs(t, "name", &name)
		configs := map[string]string{}
		if arg, ok := d.Arg("configs"); ok {
			for _, kv := range arg.Vals {
				k, v, _ := strings.Cut(kv, ":")
				configs[k] = v
			}
		}
		id := testTopicID(name)
		if d.HasArg("zero-id") {
			id = TopicID{}
		}
		res := s.apply(CreateTopic{Name: name, TopicID: id, Configs: configs, Partitions: assignmentsFrom(t, d)})
		if res == "ok\n" {
			for i := range s.img.Topic(name).Partitions {
				res += s.partitionLine(name, int32(i))
			}
		}
		return res
	case "create-partitions":
		var name string
		d.ScanArgs(t, "name", &name)
		first := 0
		if tp := s.img.Topic(name); tp != nil {
			first = len(tp.Partitions)
		}
		first = intArg(t, d, "first", first)
		res := s.apply(CreatePartitions{TopicID: s.topicOrZero(name), FirstPartition: int32(first), Partitions: assignmentsFrom(t, d)})
		if res == "ok\n" {
			for i := first; i < len(s.img.Topic(name).Partitions); i++ {
				res += s.partitionLine(name, int32(i))
			}
		}
		return res
	case "delete-topic":
		var name string
		d.ScanArgs(t, "name", &name)
		id := s.topicOrZero(name)
		if d.HasArg("other-id") {
			id = testTopicID(name + "-old")
		}
		return s.apply(DeleteTopic{Name: name, TopicID: id})
	case "alter-config":
		var name string
		d.ScanArgs(t, "name", &name)
		var changes []ConfigChange
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			if strings.HasPrefix(line, "-") {
				changes = append(changes, ConfigChange{Name: line[1:], Delete: true})
			} else if k, v, ok := strings.Cut(line, "="); ok {
				changes = append(changes, ConfigChange{Name: k, Value: v})
			}
		}
		res := s.apply(AlterTopicConfig{TopicID: s.topicOrZero(name), Changes: changes})
		if res == "ok\n" {
			res += "configs=" + formatConfigs(s.img.Topic(name).Configs) + "\n"
		}
		return res
	case "change-isr", "elect":
		var topic string
		d.ScanArgs(t, "topic", &topic)
		p := int32(intArg(t, d, "p", 0))
		cur := s.img.Partition(topic, p)
		if cur == nil {
			cur = &Partition{}
		}
		pe := int32(intArg(t, d, "partition-epoch", int(cur.PartitionEpoch)))
		isr := int32s(t, d, "isr")
		var rec Record
		if d.Cmd == "change-isr" {
			rec = ChangeISR{TopicID: s.topicOrZero(topic), Partition: p, BrokerID: int32(intArg(t, d, "by", int(cur.Leader))),
				LeaderEpoch: int32(intArg(t, d, "leader-epoch", int(cur.LeaderEpoch))), PartitionEpoch: pe, ISR: isr}
		} else {
			rec = ElectLeader{TopicID: s.topicOrZero(topic), Partition: p, PartitionEpoch: pe,
				Leader: int32(intArg(t, d, "leader", 0)), ISR: isr, Unclean: d.HasArg("unclean")}
		}
		res := s.apply(rec)
		if res == "ok\n" {
			res += s.partitionLine(topic, p)
		}
		return res
	case "alloc-pids":
		id := int32(intArg(t, d, "broker", 0))
		res := s.apply(AllocateProducerIDs{BrokerID: id, BrokerEpoch: int64(intArg(t, d, "epoch", int(s.brokerEpoch(id)))),
			FirstProducerID: int64(intArg(t, d, "first", int(s.img.NextProducerID()))), Size: int32(intArg(t, d, "size", DefaultProducerIDBlockSize))})
		if blk, ok := s.img.ProducerIDBlock(id); ok && res == "ok\n" {
			res += fmt.Sprintf("broker %d [%d, %d) next=%d\n", id, blk.First, blk.First+int64(blk.Size), s.img.NextProducerID())
		}
		return res
	case "image":
		return s.img.String()

	case "policy":
		d.ScanArgs(t, "unclean", &s.pol.UncleanLeaderElection)
		return "ok\n"
	case "cluster":
		ids := int32s(t, d, "brokers")
		var racks []string
		if arg, ok := d.Arg("racks"); ok {
			racks = arg.Vals
		}
		s.img, s.live = Empty, NewLiveness()
		for i, id := range ids {
			rack := ""
			if i < len(racks) {
				rack = racks[i]
			}
			if res := s.apply(testRegistration(id, rack, 1)); res != "ok\n" {
				return res
			}
			if res := s.apply(UnfenceBroker{BrokerID: id, BrokerEpoch: s.brokerEpoch(id)}); res != "ok\n" {
				return res
			}
		}
		return s.img.String()
	case "decide-create":
		var name string
		d.ScanArgs(t, "name", &name)
		configs := map[string]string{}
		if d.HasArg("unclean") {
			configs[ConfigUncleanLeaderElection] = "true"
		}
		rec, err := CreateTopicRecord(s.img, name, testTopicID(name), int32(intArg(t, d, "partitions", 1)), intArg(t, d, "rf", 1), configs)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		res := s.apply(rec)
		if res != "ok\n" {
			return res
		}
		var sb strings.Builder
		for i := range rec.Partitions {
			sb.WriteString(s.partitionLine(name, int32(i)))
		}
		sb.WriteString(spread(s.img, name))
		return sb.String()
	case "decide-add-partitions":
		var name string
		d.ScanArgs(t, "name", &name)
		rec, err := CreatePartitionsRecord(s.img, name, int32(intArg(t, d, "total", 0)))
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return s.decided([]Record{rec}) + spread(s.img, name)
	case "decide-register":
		id := int32(intArg(t, d, "id", 0))
		var rack string
		d.MaybeScanArgs(t, "rack", &rack)
		out := s.decided(RegisterBrokerRecords(s.img, testRegistration(id, rack, intArg(t, d, "incarnation", 1)), s.pol))
		if b := s.img.Broker(id); b != nil {
			out += b.String() + "\n"
		}
		return out
	case "decide-fence":
		return s.decided(FenceBrokerRecords(s.img, int32(intArg(t, d, "id", 0)), s.pol))
	case "decide-unfence":
		return s.decided(UnfenceBrokerRecords(s.img, int32(intArg(t, d, "id", 0)), s.pol))
	case "heartbeat":
		id := int32(intArg(t, d, "id", 0))
		epoch := int64(intArg(t, d, "epoch", int(s.brokerEpoch(id))))
		if err := s.live.Heartbeat(s.img, id, epoch, int64(intArg(t, d, "now", 0))); err != nil {
			return "error: " + err.Error() + "\n"
		}
		return "ok\n"
	case "decide-expire":
		now, timeout := int64(intArg(t, d, "now", 0)), int64(intArg(t, d, "timeout", 0))
		return s.decided(FenceExpiredRecords(s.img, s.live, now, timeout, s.pol))
	case "decide-preferred":
		return s.decided(PreferredLeaderRecords(s.img, nil))
	case "decide-leaderless":
		return s.decided(ElectLeaderlessRecords(s.img, s.pol))
	case "decide-elect":
		var topic, typ string
		d.ScanArgs(t, "topic", &topic)
		d.ScanArgs(t, "type", &typ)
		et := ElectionPreferred
		if typ == "unclean" {
			et = ElectionUnclean
		}
		p := int32(intArg(t, d, "p", 0))
		rec, err := ElectLeaderRecord(s.img, topic, p, et)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return s.decided([]Record{rec}) + s.partitionLine(topic, p)
	case "decide-delete":
		var name string
		d.ScanArgs(t, "name", &name)
		rec, err := DeleteTopicRecord(s.img, name, TopicID{})
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return s.decided([]Record{rec})
	case "decide-reassign":
		var topic string
		d.ScanArgs(t, "topic", &topic)
		p := int32(intArg(t, d, "p", 0))
		var target []int32
		if d.HasArg("replicas") {
			target = int32s(t, d, "replicas")
			if target == nil {
				target = []int32{}
			}
		}
		rec, err := ReassignPartitionRecord(s.img, topic, p, target)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		if rec == nil {
			return "no records\n"
		}
		return s.decided([]Record{rec}) + s.partitionLine(topic, p)
	case "decide-complete":
		return s.decided(CompleteReassignmentRecords(s.img))
	case "place":
		ids := int32s(t, d, "brokers")
		var racks []string
		if arg, ok := d.Arg("racks"); ok {
			racks = arg.Vals
		}
		var brokers []*Broker
		for i, id := range ids {
			b := &Broker{ID: id}
			if i < len(racks) {
				b.Rack = racks[i]
			}
			brokers = append(brokers, b)
		}
		placed, err := PlaceReplicas(brokers, int32(intArg(t, d, "first", 0)), int32(intArg(t, d, "partitions", 1)), intArg(t, d, "rf", 1), intArg(t, d, "start", 0))
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		return formatPlacement(brokers, placed)
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	}
}

// spread summarises how a topic's leaders and replicas fall on brokers.
func spread(img *Image, topic string) string {
	t := img.Topic(topic)
	var brokers []*Broker
	for _, b := range img.Brokers() {
		brokers = append(brokers, b)
	}
	placed := make([][]int32, len(t.Partitions))
	for i, p := range t.Partitions {
		placed[i] = p.Replicas
	}
	out := formatPlacement(brokers, placed)
	return out[strings.Index(out, "leaders:"):]
}

// formatPlacement prints each partition's replicas (with racks) and per-broker counts.
func formatPlacement(brokers []*Broker, placed [][]int32) string {
	rack := map[int32]string{}
	for _, b := range brokers {
		rack[b.ID] = b.Rack
	}
	var sb strings.Builder
	leaders, replicas := map[int32]int{}, map[int32]int{}
	for i, rs := range placed {
		var parts []string
		racks := map[string]bool{}
		for _, r := range rs {
			replicas[r]++
			if rack[r] != "" {
				parts = append(parts, fmt.Sprintf("%d/%s", r, rack[r]))
				racks[rack[r]] = true
			} else {
				parts = append(parts, strconv.Itoa(int(r)))
			}
		}
		leaders[rs[0]]++
		line := fmt.Sprintf("p%d: %s", i, strings.Join(parts, " "))
		if len(racks) > 0 {
			line += fmt.Sprintf(" (%d racks)", len(racks))
		}
		sb.WriteString(line + "\n")
	}
	ids := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		ids = append(ids, b.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var ls, rs []string
	for _, id := range ids {
		ls = append(ls, fmt.Sprintf("%d:%d", id, leaders[id]))
		rs = append(rs, fmt.Sprintf("%d:%d", id, replicas[id]))
	}
	fmt.Fprintf(&sb, "leaders: %s\nreplicas: %s\n", strings.Join(ls, " "), strings.Join(rs, " "))
	return sb.String()
}
