package broker

// Forwarding to the active controller over the network.
//
// A broker whose node is not the active controller sends what the controller must decide —
// registration, heartbeats, ISR changes, producer-id blocks and the admin requests — to the
// active controller's broker on its Kafka listener, as Kafka's own broker-to-controller APIs:
// BrokerRegistration (62), BrokerHeartbeat (63), AlterPartition (56, v1: topics by name),
// AllocateProducerIds (67); CreateTopics (19), DeleteTopics (20, v6 by topic id), AlterConfigs
// (33), CreatePartitions (37), ElectLeaders (43), IncrementalAlterConfigs (44) and
// AlterPartitionReassignments (45) are re-sent as they are, one topic, resource or partition per
// request (controller_ops.go).
//
// Why the Kafka listener and not a private protocol on the CONTROLLER listener: that port belongs
// to hashicorp/raft's TCP transport, which owns the socket and its framing (sharing it would need
// a multiplexing stream layer inside engine/meta), while the Kafka listener already has framing,
// size limits, flexible headers and an event loop, and kmsg has every message: no new protocol.
// The four broker-to-controller keys are served only with a controller link attached, are not
// advertised in ApiVersions (clients never send them), and — except registration — are answered
// only for a registered broker id with its current broker epoch. A node that is not the active
// controller answers NOT_CONTROLLER; the sender looks the leader up again and retries.
//
// Route (ControllerLinkConfig) stays the in-process seam: when it yields the active node's link
// the call is direct; otherwise the active node's Kafka endpoint is taken from the image and the
// request goes over TCP (one short connection per request; loopback-cheap, and nothing to
// reconnect after a controller moves).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

const (
	keyAlterPartition      int16 = 56
	keyBrokerRegistration  int16 = 62
	keyBrokerHeartbeat     int16 = 63
	keyAllocateProducerIDs int16 = 67

	// Kafka error codes of the broker-to-controller APIs.
	errNotController         int16 = 41
	errInvalidUpdateVersion  int16 = 95
	errStaleBrokerEpoch      int16 = 77
	errBrokerIDNotRegistered int16 = 102
	errIneligibleReplica     int16 = 107

	rpcDefaultTimeout = 10 * time.Second
	rpcMaxResponse    = 64 << 20
	rpcClientID       = "sluice-controller-forward"
)

// isControllerRPC reports whether key is one of the broker-to-controller APIs.
func isControllerRPC(key int16) bool {
	switch key {
	case keyAlterPartition, keyBrokerRegistration, keyBrokerHeartbeat, keyAllocateProducerIDs:
		return true
	}
	return false
}

// kafkaCodeError is a Kafka error code answered by the active controller over the network.
type kafkaCodeError struct {
	code int16
	msg  string
}

func (e *kafkaCodeError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("controller answered error %d: %s", e.code, e.msg)
	}
	return fmt.Sprintf("controller answered error %d", e.code)
}

// errRemoteUnavailable wraps a network failure reaching the active controller: retried.
var errRemoteUnavailable = errors.New("active controller unreachable")

// rpcErrorCode maps a controller decision's error to the code sent back over the wire.
func rpcErrorCode(err error) int16 {
	var nc *meta.NotControllerError
	var kc *kafkaCodeError
	switch {
	case err == nil:
		return errNone
	case errors.As(err, &nc), errors.Is(err, meta.ErrClosed):
		return errNotController
	case errors.As(err, &kc):
		return kc.code
	case errors.Is(err, meta.ErrStaleBrokerEpoch):
		return errStaleBrokerEpoch
	case errors.Is(err, meta.ErrUnknownBroker):
		return errBrokerIDNotRegistered
	case errors.Is(err, meta.ErrStalePartitionEpoch):
		return errInvalidUpdateVersion
	case errors.Is(err, meta.ErrFencedLeaderEpoch):
		return errFencedLeaderEpoch
	case errors.Is(err, meta.ErrNotLeader):
		return errNotLeaderOrFollower
	case errors.Is(err, meta.ErrIneligibleReplica):
		return errIneligibleReplica
	case errors.Is(err, meta.ErrUnknownTopic), errors.Is(err, meta.ErrUnknownPartition):
		return errUnknownTopicOrPartition
	case errors.Is(err, meta.ErrInvalidISR):
		return errInvalidRequest
	case errors.Is(err, context.DeadlineExceeded):
		return errRequestTimedOut
	default:
		return metaErrorCode(err)
	}
}

// rpcError maps a code received over the wire back to the error the in-process path would give.
func rpcError(code int16, msg *string) error {
	m := ""
	if msg != nil {
		m = *msg
	}
	switch code {
	case errNone:
		return nil
	case errNotController:
		return &meta.NotControllerError{LeaderID: -1}
	case errStaleBrokerEpoch:
		return fmt.Errorf("%w (%s)", meta.ErrStaleBrokerEpoch, m)
	case errBrokerIDNotRegistered:
		return fmt.Errorf("%w (%s)", meta.ErrUnknownBroker, m)
	}
	return &kafkaCodeError{code: code, msg: m}
}

// activeAddr is the Kafka endpoint of node id from this node's copy of the metadata.
func (l *ControllerLink) activeAddr(id int32) (string, bool) {
	img := l.c.Image()
	br := img.Broker(id)
	if br == nil {
		if img = l.image.Load(); img != nil {
			br = img.Broker(id)
		}
	}
	if br == nil {
		return "", false
	}
	e, ok := br.Endpoint(l.cfg.Listener)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), true
}

// rpcCall sends req to addr and reads its response: one connection per call.
func rpcCall(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRemoteUnavailable, err)
	}
	defer conn.Close()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(rpcDefaultTimeout)
	}
	_ = conn.SetDeadline(dl)
	const corr = 1
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID(rpcClientID)).AppendRequest(nil, req, corr)
	if _, err := conn.Write(frame); err != nil {
		return nil, fmt.Errorf("%w: %v", errRemoteUnavailable, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", errRemoteUnavailable, err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > rpcMaxResponse {
		return nil, fmt.Errorf("%w: bad response size %d", errRemoteUnavailable, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, fmt.Errorf("%w: %v", errRemoteUnavailable, err)
	}
	if binary.BigEndian.Uint32(body) != corr {
		return nil, fmt.Errorf("%w: correlation id mismatch", errRemoteUnavailable)
	}
	body = body[4:]
	if req.IsFlexible() && req.Key() != 18 {
		tags, k := binary.Uvarint(body)
		if k <= 0 || tags != 0 {
			return nil, errors.New("controller forward: response header with tagged fields")
		}
		body = body[k:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("controller forward: decoding response: %w", err)
	}
	return resp, nil
}

// ---- the sending side ----

func (l *ControllerLink) remoteRegister(ctx context.Context, addr string, reg meta.RegisterBroker) (int64, error) {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.SetVersion(0)
	req.BrokerID, req.IncarnationID, req.ClusterID = reg.BrokerID, reg.IncarnationID, clusterID
	if reg.Rack != "" {
		req.Rack = strPtr(reg.Rack)
	}
	for _, e := range reg.Endpoints {
		rl := kmsg.NewBrokerRegistrationRequestListener()
		rl.Name, rl.Host, rl.Port, rl.SecurityProtocol = e.Listener, e.Host, uint16(e.Port), 0
		req.Listeners = append(req.Listeners, rl)
	}
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return 0, err
	}
	resp := kr.(*kmsg.BrokerRegistrationResponse)
	if err := rpcError(resp.ErrorCode, nil); err != nil {
		return 0, err
	}
	return resp.BrokerEpoch, nil
}

func (l *ControllerLink) remoteHeartbeat(ctx context.Context, addr string, id int32, epoch int64, wantShutDown bool, offset uint64) (shouldShutDown, caughtUp bool, err error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.SetVersion(0)
	req.BrokerID, req.BrokerEpoch, req.WantShutdown = id, epoch, wantShutDown
	req.CurrentMetadataOffset = int64(offset)
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return false, false, err
	}
	resp := kr.(*kmsg.BrokerHeartbeatResponse)
	return resp.ShouldShutdown, resp.IsCaughtUp, rpcError(resp.ErrorCode, nil)
}

func (l *ControllerLink) remoteChangeISR(ctx context.Context, addr string, ch replica.ISRChange) error {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(1) // topics by name
	req.BrokerID, req.BrokerEpoch = ch.BrokerID, l.epoch.Load()
	t := kmsg.NewAlterPartitionRequestTopic()
	t.Topic = ch.Topic
	p := kmsg.NewAlterPartitionRequestTopicPartition()
	p.Partition, p.LeaderEpoch, p.PartitionEpoch = ch.Partition, ch.LeaderEpoch, ch.PartitionEpoch
	p.NewISR = append([]int32(nil), ch.ISR...)
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return err
	}
	resp := kr.(*kmsg.AlterPartitionResponse)
	if err := rpcError(resp.ErrorCode, nil); err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := rpcError(rp.ErrorCode, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *ControllerLink) remoteAllocatePIDs(ctx context.Context, addr string, id int32) (first int64, size int32, err error) {
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.SetVersion(0)
	req.BrokerID, req.BrokerEpoch = id, l.epoch.Load()
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return 0, 0, err
	}
	resp := kr.(*kmsg.AllocateProducerIDsResponse)
	if err := rpcError(resp.ErrorCode, nil); err != nil {
		return 0, 0, err
	}
	return resp.ProducerIDStart, resp.ProducerIDLen, nil
}

// remoteCreateTopic forwards one topic's creation; it returns the new topic's id.
func remoteCreateTopic(ctx context.Context, addr string, rt kmsg.CreateTopicsRequestTopic, partitions int32, rf int16, timeout time.Duration) ([16]byte, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7) // flexible; answers the topic id
	req.TimeoutMillis = int32(timeout / time.Millisecond)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor, t.Configs = rt.Topic, partitions, rf, rt.Configs
	req.Topics = append(req.Topics, t)
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return [16]byte{}, err
	}
	resp := kr.(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		return [16]byte{}, errors.New("controller forward: CreateTopics answered no topic")
	}
	st := resp.Topics[0]
	if st.ErrorCode == errNotController {
		return [16]byte{}, &meta.NotControllerError{LeaderID: -1}
	}
	if st.ErrorCode != errNone {
		return [16]byte{}, rpcError(st.ErrorCode, st.ErrorMessage)
	}
	return st.TopicID, nil
}

// remoteCreatePartitions forwards one topic's partition increase.
func remoteCreatePartitions(ctx context.Context, addr string, topic string, count int32, timeout time.Duration) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.SetVersion(3)
	req.TimeoutMillis = int32(timeout / time.Millisecond)
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = topic, count
	req.Topics = append(req.Topics, t)
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return err
	}
	resp := kr.(*kmsg.CreatePartitionsResponse)
	if len(resp.Topics) != 1 {
		return errors.New("controller forward: CreatePartitions answered no topic")
	}
	return rpcError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
}

// ---- the receiving side (the active controller's broker) ----

// serveControllerRPC answers a broker-to-controller request off the event loop.
func (l *ControllerLink) serveControllerRPC(req *netio.Request, w netio.ResponseWriter) {
	b := l.b
	kreq := kmsg.RequestForKey(req.APIKey)
	if kreq == nil || req.APIVersion < 0 || req.APIVersion > kreq.MaxVersion() || len(req.Body) > maxDecodedRequestBytes {
		w.Close()
		return
	}
	kreq.SetVersion(req.APIVersion)
	if err := kreq.ReadFrom(req.Body); err != nil {
		b.logger.Debug("malformed controller request; closing connection", "key", req.APIKey, "err", err)
		w.Close()
		return
	}
	b.parked.Add(1)
	go func() {
		defer b.parked.Done()
		ctx, cancel := l.stopContext(rpcDefaultTimeout)
		defer cancel()
		resp := l.answerControllerRPC(ctx, kreq)
		w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
	}()
}

// stopContext is a context ending after timeout or when the link stops.
func (l *ControllerLink) stopContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// registered reports whether id is registered at epoch in the active controller's image.
func (l *ControllerLink) registered(id int32, epoch int64) error {
	br := l.c.Image().Broker(id)
	switch {
	case br == nil:
		return meta.ErrUnknownBroker
	case br.Epoch != epoch:
		return meta.ErrStaleBrokerEpoch
	}
	return nil
}

func (l *ControllerLink) answerControllerRPC(ctx context.Context, kreq kmsg.Request) kmsg.Response {
	active := l.c.IsActive()
	switch r := kreq.(type) {
	case *kmsg.BrokerRegistrationRequest:
		resp := r.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		if !active {
			resp.ErrorCode = errNotController
			return resp
		}
		reg := meta.RegisterBroker{BrokerID: r.BrokerID, IncarnationID: r.IncarnationID}
		if r.Rack != nil {
			reg.Rack = *r.Rack
		}
		for _, rl := range r.Listeners {
			reg.Endpoints = append(reg.Endpoints, meta.Endpoint{Listener: rl.Name, Host: rl.Host, Port: int32(rl.Port)})
		}
		epoch, err := l.registerLocal(ctx, reg)
		resp.ErrorCode, resp.BrokerEpoch = rpcErrorCode(err), epoch
		return resp
	case *kmsg.BrokerHeartbeatRequest:
		resp := r.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		if !active {
			resp.ErrorCode = errNotController
			return resp
		}
		should, caughtUp, err := l.heartbeat(ctx, r.BrokerID, r.BrokerEpoch, r.WantShutdown, uint64(max(r.CurrentMetadataOffset, 0)))
		resp.ErrorCode, resp.ShouldShutdown, resp.IsCaughtUp = rpcErrorCode(err), should, caughtUp
		if br := l.c.Image().Broker(r.BrokerID); br != nil {
			resp.IsFenced = br.Fenced
		}
		return resp
	case *kmsg.AlterPartitionRequest:
		resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
		if !active {
			resp.ErrorCode = errNotController
			return resp
		}
		if err := l.registered(r.BrokerID, r.BrokerEpoch); err != nil {
			resp.ErrorCode = rpcErrorCode(err)
			return resp
		}
		for _, rt := range r.Topics {
			st := kmsg.NewAlterPartitionResponseTopic()
			st.Topic, st.TopidID = rt.Topic, rt.TopicID
			name := rt.Topic
			if t := l.c.Image().TopicByID(rt.TopicID); name == "" && t != nil { // v2+: by id
				name = t.Name
			}
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionResponseTopicPartition()
				sp.Partition = rp.Partition
				ch := replica.ISRChange{TopicPartition: replica.TopicPartition{Topic: name, Partition: rp.Partition}, BrokerID: r.BrokerID,
					LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch, ISR: rp.NewISR}
				sp.ErrorCode = rpcErrorCode(l.proposeLocal(ctx, changeISRDecision(ch)))
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	case *kmsg.AllocateProducerIDsRequest:
		resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
		if !active {
			resp.ErrorCode = errNotController
			return resp
		}
		if err := l.registered(r.BrokerID, r.BrokerEpoch); err != nil {
			resp.ErrorCode = rpcErrorCode(err)
			return resp
		}
		rec, err := l.allocateLocal(ctx, r.BrokerID)
		resp.ErrorCode = rpcErrorCode(err)
		if err == nil {
			resp.ProducerIDStart, resp.ProducerIDLen = rec.FirstProducerID, rec.Size
		}
		return resp
	}
	panic("unreachable: not a controller RPC")
}
