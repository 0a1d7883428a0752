package broker

// Kafka error codes the broker answers with (the subset in use; names as in Kafka's Errors.java).
const (
	errNone                     int16 = 0
	errOffsetOutOfRange         int16 = 1
	errCorruptMessage           int16 = 2
	errUnknownTopicOrPartition  int16 = 3
	errLeaderNotAvailable       int16 = 5
	errNotLeaderOrFollower      int16 = 6
	errRequestTimedOut          int16 = 7
	errMessageTooLarge          int16 = 10
	errInvalidTopic             int16 = 17
	errNotEnoughReplicas        int16 = 19
	errInvalidRequiredAcks      int16 = 21
	errUnsupportedVersion       int16 = 35
	errTopicAlreadyExists       int16 = 36
	errInvalidPartitions        int16 = 37
	errInvalidReplicationFactor int16 = 38
	errInvalidReplicaAssignment int16 = 39
	errInvalidConfig            int16 = 40
	errInvalidRequest           int16 = 42
	errOutOfOrderSequence       int16 = 45
	errInvalidProducerEpoch     int16 = 47
	errKafkaStorage             int16 = 56
	errFencedLeaderEpoch        int16 = 74
	errUnknownLeaderEpoch       int16 = 75
	errPreferredLeaderNotAvail  int16 = 80 // PREFERRED_LEADER_NOT_AVAILABLE
	errEligibleLeadersNotAvail  int16 = 83 // ELIGIBLE_LEADERS_NOT_AVAILABLE
	errElectionNotNeeded        int16 = 84
	errNoReassignmentInProgress int16 = 85
	errUnknownTopicID           int16 = 100
	errUnsupportedEndpointType  int16 = 119
	errUnknownServerError       int16 = -1
)
