//go:build !amd64

package record

const useFold = false

func foldCastagnoli(crc uint32, p []byte) uint32 {
	panic("record: no folded CRC32C on this architecture")
}
