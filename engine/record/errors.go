package record

import "fmt"

// Kafka error codes the record layer can produce. The broker answers with these verbatim.
const (
	CodeCorruptMessage              int16 = 2  // CORRUPT_MESSAGE: bad length, CRC, count or layout
	CodeMessageTooLarge             int16 = 10 // MESSAGE_TOO_LARGE: batch above max.message.bytes
	CodeUnsupportedForMessageFormat int16 = 43 // UNSUPPORTED_FOR_MESSAGE_FORMAT: magic other than 2
	CodeUnsupportedCompressionType  int16 = 76 // UNSUPPORTED_COMPRESSION_TYPE: codec id above 4
)

// Error is a rejected batch: the Kafka error code to answer with and a human-readable reason.
// Reasons are constant strings plus numbers, so producing one costs a single allocation.
type Error struct {
	Code   int16
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("record batch rejected (kafka code %d): %s", e.Code, e.Reason)
}

// KafkaCode returns the Kafka error code carried by err, or -1 (UNKNOWN_SERVER_ERROR) when err is
// not a record *Error.
func KafkaCode(err error) int16 {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return -1
}

func corrupt(format string, args ...any) error {
	return &Error{Code: CodeCorruptMessage, Reason: fmt.Sprintf(format, args...)}
}
