package group

// Kafka error codes the coordinator answers with (names as in Kafka's Errors.java). Per-partition
// and per-member errors never fail a whole request.
const (
	errNone                      int16 = 0
	errUnknownTopicOrPartition   int16 = 3
	errOffsetMetadataTooLarge    int16 = 12
	errCoordinatorLoadInProgress int16 = 14
	errCoordinatorNotAvailable   int16 = 15
	errNotCoordinator            int16 = 16
	errIllegalGeneration         int16 = 22
	errInconsistentGroupProtocol int16 = 23
	errInvalidGroupID            int16 = 24
	errUnknownMemberID           int16 = 25
	errInvalidSessionTimeout     int16 = 26
	errRebalanceInProgress       int16 = 27
	errInvalidRequest            int16 = 42
	errNonEmptyGroup             int16 = 68
	errGroupIDNotFound           int16 = 69
	errMemberIDRequired          int16 = 79
	errGroupMaxSizeReached       int16 = 81
	errFencedInstanceID          int16 = 82
	errGroupSubscribedToTopic    int16 = 86
)

// How engine failures map to Kafka codes. Kafka answers a failed write to its offsets topic, and
// a coordinator that is unloading, with NOT_COORDINATOR: clients look the coordinator up again
// and retry, which is what a restarted or recovered Sluice wants too.
const (
	errStorage = errNotCoordinator
	errClosed  = errNotCoordinator
)
