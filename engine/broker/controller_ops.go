package broker

// Cluster-mode admin operations through the Raft controller: DeleteTopics, topic AlterConfigs and
// IncrementalAlterConfigs, auto-creation on Metadata, ElectLeaders, AlterPartitionReassignments
// and ListPartitionReassignments.
//
// Each item of a request (a topic, a config resource, a partition) is decided on its own by
// engine/meta's pure decision on the active controller's image and proposed there as one record,
// through ControllerLink.submit: directly when the active controller's link is in this process,
// else forwarded to its Kafka listener as the same Kafka request holding that one item, which the
// active node's handler decides in turn. Decision errors come back as Kafka error codes per item;
// NOT_CONTROLLER and unreachable controllers are retried until the request's timeout. Once the
// record is committed the answer waits until this broker has applied an image showing the change
// (at most appliedWaitMax for changes decided elsewhere, since a forwarded answer does not say
// which image holds them), so a client reading back from this broker sees what it asked for.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/meta"
)

const (
	// adminTimeout bounds an admin request that names no timeout.
	adminTimeout = 30 * time.Second
	// appliedWaitMax bounds the wait for this broker to apply a change the active controller
	// committed; the answer goes out after it either way (the change is committed).
	appliedWaitMax = 5 * time.Second
	// autoCreatesMax bounds the topic auto-creations in flight on one broker.
	autoCreatesMax = 64
)

func adminContext(timeoutMs int32) (context.Context, context.CancelFunc) {
	timeout := adminTimeout
	if timeoutMs > 0 {
		timeout = time.Duration(timeoutMs) * time.Millisecond
	}
	return context.WithTimeout(context.Background(), timeout)
}

// codeOf maps a decision's or forwarding's error to a Kafka error code and message.
func codeOf(err error) (int16, *string) {
	if err == nil {
		return errNone, nil
	}
	var kc *kafkaCodeError
	if errors.As(err, &kc) {
		if kc.msg == "" {
			return kc.code, nil
		}
		return kc.code, strPtr(kc.msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errRequestTimedOut, strPtr(err.Error())
	}
	return rpcErrorCode(err), strPtr(err.Error())
}

// waitAppliedBounded waits, at most appliedWaitMax, for this broker to apply an image where ok
// holds; a change committed by the active controller is answered as done either way.
func (l *ControllerLink) waitAppliedBounded(ctx context.Context, ok func(*meta.Image) bool) {
	wctx, cancel := context.WithTimeout(ctx, appliedWaitMax)
	defer cancel()
	_ = l.waitApplied(wctx, ok)
}

// forwardOne sends req to the active controller's Kafka listener and returns the one item's
// error from its response (item picks it).
func forwardOne[R kmsg.Response](ctx context.Context, addr string, req kmsg.Request, item func(R) (int16, *string, bool)) error {
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return err
	}
	code, msg, ok := item(kr.(R))
	if !ok {
		return fmt.Errorf("controller forward: %s answered no item", kmsg.NameForKey(req.Key()))
	}
	return rpcError(code, msg)
}

// ---- DeleteTopics ----

// deleteTopics answers DeleteTopics in cluster mode: a DeleteTopic record per topic; every broker
// removes its copy when it applies it (apply).
func (l *ControllerLink) deleteTopics(r *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(r.TimeoutMillis)
	defer cancel()
	for _, dt := range deleteTargets(r) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		img := l.image.Load()
		t := img.Topic(dt.name)
		if dt.name == "" {
			t = img.TopicByID(dt.id)
		}
		if t == nil {
			unknownTopicResult(&st, dt)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		name, id := t.Name, t.ID
		st.Topic, st.TopicID = strPtr(name), id
		err := l.submit(ctx, func(img *meta.Image) ([]meta.Record, error) {
			if img.TopicByID(id) == nil {
				return nil, nil // gone already (a retry after a controller change)
			}
			rec, err := meta.DeleteTopicRecord(img, "", id)
			if err != nil {
				return nil, err
			}
			return []meta.Record{rec}, nil
		}, func(addr string) error {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.SetVersion(6) // by id: never another topic that took the name since
			req.TimeoutMillis = r.TimeoutMillis
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.TopicID = id
			req.Topics = append(req.Topics, rt)
			return forwardOne(ctx, addr, req, func(resp *kmsg.DeleteTopicsResponse) (int16, *string, bool) {
				if len(resp.Topics) != 1 {
					return 0, nil, false
				}
				if resp.Topics[0].ErrorCode == errUnknownTopicID {
					return errNone, nil, true // deleted before this attempt
				}
				return resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, true
			})
		})
		if err == nil {
			l.waitAppliedBounded(ctx, func(img *meta.Image) bool { return img.TopicByID(id) == nil })
			l.b.logger.Info("deleted topic through the controller", "topic", name)
		}
		st.ErrorCode, st.ErrorMessage = codeOf(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// ---- AlterConfigs / IncrementalAlterConfigs ----

// alterTopicConfigs changes one TOPIC resource's configs in cluster mode: next computes the
// topic's new explicit config set from its current one in the active controller's image; the
// difference is proposed as an AlterTopicConfig record, which every broker applies to its
// partitions (applyClusterTopic). forward is the same resource alone, sent to the active
// controller when it is in another process.
func (l *ControllerLink) alterTopicConfigs(typ kmsg.ConfigResourceType, name string, validateOnly bool,
	next func(current map[string]string) (map[string]string, int16, string), forward kmsg.Request) (int16, *string) {
	if code, msg := topicResourceOnly(typ); code != errNone {
		return code, strPtr(msg)
	}
	if !validTopicName(name) {
		return errInvalidTopic, strPtr(fmt.Sprintf("topic name %q is illegal", name))
	}
	defaults := l.b.cfg.LogDefaults
	decide := func(img *meta.Image) ([]meta.Record, error) {
		t := img.Topic(name)
		if t == nil {
			return nil, &kafkaCodeError{code: errUnknownTopicOrPartition, msg: fmt.Sprintf("topic %q does not exist", name)}
		}
		configs, code, msg := next(maps.Clone(t.Configs))
		if code != errNone {
			return nil, &kafkaCodeError{code: code, msg: msg}
		}
		if _, err := topicLogConfig(defaults, configs); err != nil {
			return nil, &kafkaCodeError{code: errInvalidConfig, msg: err.Error()}
		}
		rec := meta.AlterTopicConfig{TopicID: t.ID, Changes: configChanges(t.Configs, configs)}
		if len(rec.Changes) == 0 {
			return nil, nil
		}
		return []meta.Record{rec}, nil
	}
	if validateOnly {
		_, err := decide(l.image.Load())
		return codeOf(err)
	}
	if l.image.Load().Topic(name) == nil {
		return errUnknownTopicOrPartition, strPtr(fmt.Sprintf("topic %q does not exist", name))
	}
	ctx, cancel := adminContext(0)
	defer cancel()
	err := l.submit(ctx, decide, func(addr string) error { return forwardConfigResource(ctx, addr, forward) })
	if err == nil {
		// Applied here once deciding again on this broker's image changes nothing.
		l.waitAppliedBounded(ctx, func(img *meta.Image) bool {
			recs, err := decide(img)
			return err == nil && len(recs) == 0
		})
		l.b.logger.Info("altered topic configs through the controller", "topic", name)
	}
	return codeOf(err)
}

// configChanges lists what turns the config set from into to, by name.
func configChanges(from, to map[string]string) []meta.ConfigChange {
	var out []meta.ConfigChange
	for _, k := range slices.Sorted(maps.Keys(to)) {
		if v, ok := from[k]; !ok || v != to[k] {
			out = append(out, meta.ConfigChange{Name: k, Value: to[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(from)) {
		if _, ok := to[k]; !ok {
			out = append(out, meta.ConfigChange{Name: k, Delete: true})
		}
	}
	return out
}

func (l *ControllerLink) alterConfigs(r *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range r.Resources {
		rs := kmsg.NewAlterConfigsResponseResource()
		rs.ResourceType, rs.ResourceName = rr.ResourceType, rr.ResourceName
		fwd := kmsg.NewPtrAlterConfigsRequest()
		fwd.SetVersion(2)
		fwd.Resources = []kmsg.AlterConfigsRequestResource{rr}
		rs.ErrorCode, rs.ErrorMessage = l.alterTopicConfigs(rr.ResourceType, rr.ResourceName, r.ValidateOnly, replaceConfigs(rr.Configs), fwd)
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

func (l *ControllerLink) incrementalAlterConfigs(r *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range r.Resources {
		rs := kmsg.NewIncrementalAlterConfigsResponseResource()
		rs.ResourceType, rs.ResourceName = rr.ResourceType, rr.ResourceName
		fwd := kmsg.NewPtrIncrementalAlterConfigsRequest()
		fwd.SetVersion(1)
		fwd.Resources = []kmsg.IncrementalAlterConfigsRequestResource{rr}
		rs.ErrorCode, rs.ErrorMessage = l.alterTopicConfigs(rr.ResourceType, rr.ResourceName, r.ValidateOnly,
			func(configs map[string]string) (map[string]string, int16, string) {
				return l.b.applyConfigOps(configs, rr.Configs)
			}, fwd)
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

// forwardConfigResource sends a one-resource AlterConfigs or IncrementalAlterConfigs request to
// the active controller and returns the resource's error.
func forwardConfigResource(ctx context.Context, addr string, req kmsg.Request) error {
	kr, err := rpcCall(ctx, addr, req)
	if err != nil {
		return err
	}
	var code int16
	var msg *string
	n := 0
	switch resp := kr.(type) {
	case *kmsg.AlterConfigsResponse:
		if n = len(resp.Resources); n == 1 {
			code, msg = resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		if n = len(resp.Resources); n == 1 {
			code, msg = resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage
		}
	}
	if n != 1 {
		return fmt.Errorf("controller forward: %s answered %d resources, want 1", kmsg.NameForKey(req.Key()), n)
	}
	return rpcError(code, msg)
}

// ---- auto-creation on Metadata ----

// autoCreate starts creating a topic Metadata named (auto.create.topics.enable) on its own
// goroutine and reports what to answer meanwhile: LEADER_NOT_AVAILABLE (retriable: clients ask
// again and find the topic), or INVALID_REPLICATION_FACTOR when default.replication.factor
// exceeds the live brokers, as Kafka answers. Never blocks: Metadata runs on an event loop.
func (l *ControllerLink) autoCreate(img *meta.Image, name string) int16 {
	b := l.b
	rf := max(b.cfg.DefaultReplicationFactor, 1)
	if int(rf) > len(img.UnfencedBrokers()) {
		return errInvalidReplicationFactor
	}
	l.autoMu.Lock()
	defer l.autoMu.Unlock()
	if l.autoClosed || l.autoCreating[name] || len(l.autoCreating) >= autoCreatesMax {
		return errLeaderNotAvailable
	}
	l.autoCreating[name] = true
	l.autoWG.Add(1)
	go func() {
		defer l.autoWG.Done()
		defer func() {
			l.autoMu.Lock()
			delete(l.autoCreating, name)
			l.autoMu.Unlock()
		}()
		ctx, cancel := l.stopContext(createTopicsTimeout)
		defer cancel()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, b.cfg.NumPartitions, rf
		_, err := l.createTopic(ctx, rt, b.cfg.NumPartitions, rf, map[string]string{}, createTopicsTimeout)
		switch {
		case err == nil:
			b.logger.Info("auto-created topic", "topic", name, "partitions", b.cfg.NumPartitions, "replication_factor", rf)
		case errors.Is(err, meta.ErrTopicExists):
		default:
			if code, _ := codeOf(err); code != errTopicAlreadyExists && !l.stopped() {
				b.logger.Warn("auto-creating topic failed", "topic", name, "err", err)
			}
		}
	}()
	return errLeaderNotAvailable
}

// ---- ElectLeaders ----

// electLeaders answers ElectLeaders in cluster mode: an ElectLeader record per partition that
// needs one (meta.ElectLeaderRecord), Kafka's error code for the others. Null topics mean every
// partition, and then the partitions needing no election are left out of the answer, as Kafka
// does.
func (l *ControllerLink) electLeaders(r *kmsg.ElectLeadersRequest, typ meta.ElectionType) *kmsg.ElectLeadersResponse {
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(r.TimeoutMillis)
	defer cancel()
	all := r.Topics == nil
	topics := r.Topics
	if all {
		img := l.image.Load()
		for _, name := range img.TopicNames() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = name
			for i := range img.Topic(name).Partitions {
				rt.Partitions = append(rt.Partitions, int32(i))
			}
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			if _, err := meta.ElectLeaderRecord(l.image.Load(), rt.Topic, p, typ); errors.Is(err, meta.ErrElectionNotNeeded) && all {
				continue
			}
			err := l.submit(ctx, func(img *meta.Image) ([]meta.Record, error) {
				rec, err := meta.ElectLeaderRecord(img, rt.Topic, p, typ)
				if err != nil {
					return nil, err
				}
				return []meta.Record{rec}, nil
			}, func(addr string) error {
				req := kmsg.NewPtrElectLeadersRequest()
				req.SetVersion(2)
				req.ElectionType, req.TimeoutMillis = int8(typ), r.TimeoutMillis
				ft := kmsg.NewElectLeadersRequestTopic()
				ft.Topic, ft.Partitions = rt.Topic, []int32{p}
				req.Topics = append(req.Topics, ft)
				return forwardOne(ctx, addr, req, func(resp *kmsg.ElectLeadersResponse) (int16, *string, bool) {
					if resp.ErrorCode != errNone {
						return resp.ErrorCode, nil, true
					}
					if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
						return 0, nil, false
					}
					rp := resp.Topics[0].Partitions[0]
					return rp.ErrorCode, rp.ErrorMessage, true
				})
			})
			if err == nil {
				l.waitAppliedBounded(ctx, func(img *meta.Image) bool {
					_, err := meta.ElectLeaderRecord(img, rt.Topic, p, typ)
					return errors.Is(err, meta.ErrElectionNotNeeded)
				})
			}
			sp.ErrorCode, sp.ErrorMessage = codeOf(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// ---- AlterPartitionReassignments / ListPartitionReassignments ----

// alterPartitionReassignments answers AlterPartitionReassignments in cluster mode: a
// ReassignPartition record per partition (meta.ReassignPartitionRecord: start, replace or, with
// null replicas, cancel). The active controller completes each reassignment once its target
// replicas are all in the ISR (activeLoop).
func (l *ControllerLink) alterPartitionReassignments(r *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	ctx, cancel := adminContext(r.TimeoutMillis)
	defer cancel()
	return reassignEach(r, func(topic string, rp kmsg.AlterPartitionAssignmentsRequestTopicPartition) (int16, *string) {
		target := rp.Replicas
		if p := l.image.Load().Partition(topic, rp.Partition); p != nil && target != nil &&
			r.Version >= 1 && !r.AllowReplicationFactorChange && len(target) != len(p.OriginalReplicas()) {
			return errInvalidReplicationFactor, strPtr(fmt.Sprintf("%d target replicas for %d replicas, and the request does not allow changing the replication factor", len(target), len(p.OriginalReplicas())))
		}
		err := l.submit(ctx, func(img *meta.Image) ([]meta.Record, error) {
			rec, err := meta.ReassignPartitionRecord(img, topic, rp.Partition, target)
			if err != nil || rec == nil {
				return nil, err
			}
			return []meta.Record{rec}, nil
		}, func(addr string) error {
			req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			req.SetVersion(0)
			req.TimeoutMillis = r.TimeoutMillis
			ft := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			ft.Topic, ft.Partitions = topic, []kmsg.AlterPartitionAssignmentsRequestTopicPartition{rp}
			req.Topics = append(req.Topics, ft)
			return forwardOne(ctx, addr, req, func(resp *kmsg.AlterPartitionAssignmentsResponse) (int16, *string, bool) {
				if resp.ErrorCode != errNone {
					return resp.ErrorCode, resp.ErrorMessage, true
				}
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					return 0, nil, false
				}
				p := resp.Topics[0].Partitions[0]
				return p.ErrorCode, p.ErrorMessage, true
			})
		})
		if err == nil {
			l.waitAppliedBounded(ctx, func(img *meta.Image) bool {
				p := img.Partition(topic, rp.Partition)
				if p == nil {
					return true
				}
				if target == nil {
					return !p.Reassigning()
				}
				return slices.Equal(p.TargetReplicas(), target)
			})
		}
		return codeOf(err)
	})
}

// listPartitionReassignments answers ListPartitionReassignments from this broker's image: every
// partition with a reassignment in progress (of the named partitions, when topics are named),
// with its replicas, adding and removing replicas. A named topic that does not exist is
// UNKNOWN_TOPIC_OR_PARTITION for the whole request, as in Kafka.
func listReassignments(img *meta.Image, r *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	want := map[string][]int32{}
	if r.Topics != nil {
		for _, rt := range r.Topics {
			if img.Topic(rt.Topic) == nil {
				resp.ErrorCode = errUnknownTopicOrPartition
				resp.ErrorMessage = strPtr(fmt.Sprintf("topic %q does not exist", rt.Topic))
				return resp
			}
			want[rt.Topic] = append(want[rt.Topic], rt.Partitions...)
		}
	}
	for _, name := range img.TopicNames() {
		ids, named := want[name]
		if r.Topics != nil && !named {
			continue
		}
		t := img.Topic(name)
		st := kmsg.NewListPartitionReassignmentsResponseTopic()
		st.Topic = name
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if !p.Reassigning() || (r.Topics != nil && !slices.Contains(ids, int32(i))) {
				continue
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition = int32(i)
			sp.Replicas = slices.Clone(p.Replicas)
			sp.AddingReplicas = slices.Clone(p.AddingReplicas)
			sp.RemovingReplicas = slices.Clone(p.RemovingReplicas)
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp
}
