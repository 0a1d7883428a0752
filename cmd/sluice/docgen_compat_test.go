package main

// docs/compatibility.md's API table against a running broker: engine/broker keeps its API table
// unexported, so this test asks a broker the way clients do (ApiVersions) and compares the answer
// with the table. -update rewrites the key, name and version columns and keeps each row's notes:
//
//	go generate ./cmd/sluice
//	go test ./cmd/sluice -run TestCompatibilityReference -update

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	compatibilityPath  = "../../docs/compatibility.md"
	apiTableBeginMark  = "<!-- api-versions:begin"
	apiTableEndMark    = "<!-- api-versions:end -->"
	apiTableHeader     = "| key | API | versions | notes |\n|---|---|---|---|\n"
	apiVersionRangeSep = "–" // en dash: 0–11
)

// apiTableRow is a row of the table: | key | API | min–max | notes |
var apiTableRow = regexp.MustCompile(`^\| (\d+) \| ([^|]*) \| ([^|]*) \| (.*) \|$`)

func TestCompatibilityReference(t *testing.T) {
	have, err := os.ReadFile(compatibilityPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(have)
	begin := strings.Index(doc, apiTableBeginMark)
	end := strings.Index(doc, apiTableEndMark)
	if begin < 0 || end < begin {
		t.Fatalf("%s: no %q ... %q block", compatibilityPath, apiTableBeginMark, apiTableEndMark)
	}
	// The block's first line is the begin marker; the table follows it.
	tableStart := begin + strings.Index(doc[begin:], "\n") + 1
	notes := map[int16]string{}
	for _, line := range strings.Split(doc[tableStart:end], "\n") {
		if m := apiTableRow.FindStringSubmatch(line); m != nil {
			k, _ := strconv.Atoi(m[1])
			notes[int16(k)] = strings.TrimSpace(m[4])
		}
	}

	keys := servedAPIs(t, startTestBroker(t))
	var table strings.Builder
	table.WriteString(apiTableHeader)
	for _, k := range keys {
		fmt.Fprintf(&table, "| %d | %s | %d%s%d | %s |\n", k.ApiKey, kafkaAPIName(k.ApiKey), k.MinVersion, apiVersionRangeSep, k.MaxVersion, notes[k.ApiKey])
	}
	want := doc[:tableStart] + table.String() + doc[end:]
	checkGenerated(t, compatibilityPath, []byte(want), "TestCompatibilityReference")
}

// servedAPIs asks the broker at addr for its ApiVersions, sorted by key.
func servedAPIs(t *testing.T, addr string) []kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	keys := resp.ApiKeys
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

// kafkaAPIName is the API's name as Kafka's protocol guide spells it (kmsg writes "ID" where
// Kafka writes "Id": InitProducerId).
func kafkaAPIName(key int16) string {
	name := kmsg.NameForKey(key)
	if name == "" {
		return "api" + strconv.Itoa(int(key))
	}
	return strings.ReplaceAll(name, "ID", "Id")
}
