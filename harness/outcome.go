package harness

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// What a finished run becomes: its history judged, its notes, the processes'
// resource use, all written into the Result.

// check builds the history from every client's log and judges it. Every
// client is closed by now, so the logs no longer change.
func (r *run) check() {
	w, e := r.w, &r.res.Sluice
	h := History{Sent: make([]uint64, len(r.producers)), Idempotent: *w.Idempotence}
	n := 0
	for _, p := range r.producers {
		n += int(p.sent)
	}
	h.Acks = make([]Ack, 0, n)
	for i, p := range r.producers {
		h.Sent[i] = p.sent
		p.mu.Lock()
		h.Acks = append(h.Acks, p.acks...)
		p.acks = nil // the history holds them now; let the copy be the only one
		if p.firstErr != nil && e.FirstPublishError == "" {
			e.FirstPublishError = p.firstErr.Error()
		}
		p.mu.Unlock()
	}
	for _, s := range r.subs {
		hs := Subscription{Name: s.name}
		for p := range s.partitions {
			hs.Partitions = append(hs.Partitions, s.partitionBase+int32(p))
		}
		for _, c := range r.consumers {
			if c.sub != s {
				continue
			}
			c.mu.Lock()
			hs.Polls = append(hs.Polls, c.polls...)
			c.polls = nil
			e.ForeignRecords += c.foreign
			if c.firstErr != nil && e.FirstConsumeError == "" {
				e.FirstConsumeError = c.firstErr.Error()
			}
			c.mu.Unlock()
		}
		h.Subscriptions = append(h.Subscriptions, hs)
	}

	v := Check(&h)
	if v.Acknowledged == 0 {
		// A run that measured nothing is not a pass, however clean.
		v.Failures = append(v.Failures, "no record was acknowledged")
	}
	e.Correctness = v
	e.Passed = v.OK()

	if w.Acks == "0" {
		r.note("acks=0: the broker acknowledges nothing, so \"acknowledged\" means the client wrote the record to the socket; \"lost\" counts against records the producer believes it sent, and offsets are not checked against acknowledgements")
	}
	switch {
	case r.produceOnly:
		r.note("the %s target stores nothing: no consumers ran, only acknowledgements were checked", r.target.Name())
	case !w.Consumers():
		r.note("the workload has no consumers: only acknowledgements were checked")
	}
	if n, ok := r.target.(interface{ Notes() []string }); ok {
		for _, s := range n.Notes() {
			r.note("%s", s)
		}
	}
	if e.ForeignRecords > 0 {
		r.note("%d records from another run or tool were read and ignored", e.ForeignRecords)
	}
}

func (r *run) note(format string, args ...any) {
	r.res.Sluice.Notes = append(r.res.Sluice.Notes, fmt.Sprintf(format, args...))
}

func (r *run) newResult() *Result {
	w := r.w
	res := &Result{
		Workload:          w.Name,
		Driver:            r.target.Name(),
		MessageSize:       w.MessageSize,
		Topics:            w.Topics,
		Partitions:        w.PartitionsPerTopic,
		ProducersPerTopic: w.ProducersPerTopic,
		ConsumersPerTopic: w.ConsumerPerSubscription,
	}
	res.Sluice = Extra{
		Target:    r.target.Name(),
		Bootstrap: r.bootstrap,
		Client:    clientVersion(),
		Start:     r.t0,
		Settings: Settings{
			Acks:                    string(w.Acks),
			Idempotence:             *w.Idempotence,
			Compression:             w.Compression,
			LingerMs:                w.LingerMs,
			BatchBytes:              w.BatchBytes,
			ProducerRate:            w.ProducerRate,
			SubscriptionsPerTopic:   w.SubscriptionsPerTopic,
			ConsumerPerSubscription: w.ConsumerPerSubscription,
			ConsumerAssignment:      w.ConsumerAssignment,
			ReplicationFactor:       w.ReplicationFactor,
			RandomBytesRatio:        *w.RandomBytesRatio,
		},
		IntervalSeconds: statsInterval.Seconds(),
	}
	return res
}

// processSamples are this process and the broker's, read together.
type processSamples struct {
	self, broker       procSample
	selfErr, brokerErr error
	machineBusy        time.Duration // every CPU's non-idle time since boot
	machineErr         error
	at                 time.Time
}

func (r *run) sampleProcesses() processSamples {
	var s processSamples
	s.at = time.Now()
	s.machineBusy, s.machineErr = readMachineBusy()
	s.self, s.selfErr = readProc(0)
	for _, pid := range brokerPIDs(r.target) {
		p, err := readProc(pid)
		s.broker.cpu += p.cpu
		s.broker.rssBytes += p.rssBytes
		s.broker.peakRSSBytes += p.peakRSSBytes
		s.brokerErr = errors.Join(s.brokerErr, err)
	}
	return s
}

// brokerPIDs are the target's broker processes: one, several (a
// ClusterTarget, whose CPU time and memory are summed as the broker's), or
// none when the broker is in this process or out of reach.
func brokerPIDs(t Target) []int {
	if c, ok := t.(interface{ PIDs() []int }); ok {
		return c.PIDs()
	}
	if pid := t.PID(); pid != 0 {
		return []int{pid}
	}
	return nil
}

func (r *run) reportProcesses(before, after processSamples) {
	e := &r.res.Sluice
	e.LoadAvg1 = loadAvg1()
	// What the rest of the machine used in the window: all CPU time less
	// this process's and the broker's. Only meaningful when the broker's
	// PID is known or the broker is in this process.
	if window := after.at.Sub(before.at).Seconds(); window > 0 && before.machineErr == nil && after.machineErr == nil &&
		before.selfErr == nil && after.selfErr == nil && before.brokerErr == nil && after.brokerErr == nil {
		other := after.machineBusy - before.machineBusy - (after.self.cpu - before.self.cpu) - (after.broker.cpu - before.broker.cpu)
		e.OtherCPUCores = max(0, other.Seconds()/window)
	}
	gib := float64(e.PublishedBytes) / (1 << 30)
	usage := func(pid int, b, a procSample) *ProcessUsage {
		u := &ProcessUsage{PID: pid, CPUSeconds: (a.cpu - b.cpu).Seconds(), RSSBytes: a.rssBytes, PeakRSSBytes: a.peakRSSBytes}
		if gib > 0 {
			u.CPUSecondsPerGiB = u.CPUSeconds / gib
		}
		return u
	}
	if err := errors.Join(before.selfErr, after.selfErr); err != nil {
		r.note("no CPU/memory figures for this process: %v", err)
	} else {
		e.Harness = usage(os.Getpid(), before.self, after.self)
	}
	pids := brokerPIDs(r.target)
	pid := 0
	if len(pids) > 0 {
		pid = pids[0] // the first node's, when the broker is a cluster
	}
	switch err := errors.Join(before.brokerErr, after.brokerErr); {
	case len(pids) == 0:
		r.note("broker CPU/memory not reported separately: the target is in this process or its PID is unknown")
	case err != nil:
		r.note("no CPU/memory figures for broker PID %d: %v", pid, err)
	default:
		e.Broker = usage(pid, before.broker, after.broker)
	}
}

// clientVersion names the Kafka client the numbers were measured with.
func clientVersion() string {
	v := "franz-go (unknown version)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/twmb/franz-go" {
				v = "franz-go " + d.Version
			}
		}
	}
	return fmt.Sprintf("%s, %s, GOMAXPROCS=%d", v, runtime.Version(), runtime.GOMAXPROCS(0))
}
