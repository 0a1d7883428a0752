package broker

// ApiVersions: v0-3. A request above v3 gets a v0 body with UNSUPPORTED_VERSION and the full
// table (KIP-511); netio writes response header v0 for key 18 whatever the version.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(18, 0, 3, simple(handleApiVersions)) }

func apiVersionsTable() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys))
	for _, k := range keys {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, apis[k].min, apis[k].max
		out = append(out, ak)
	}
	return out
}

func handleApiVersions(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	resp := kreq.(*kmsg.ApiVersionsRequest).ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiVersionsTable()
	return resp
}

func apiVersionsUnsupported() []byte {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = errUnsupportedVersion
	resp.ApiKeys = apiVersionsTable()
	return resp.AppendTo(nil)
}
