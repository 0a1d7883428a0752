package meta

import (
	"reflect"
	"testing"
)

func TestParseQuorumVoters(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []Voter
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "1@127.0.0.1:19092", want: []Voter{{1, "127.0.0.1", 19092}}},
		{in: "1@127.0.0.1:19092,2@127.0.0.1:19093,3@127.0.0.1:19094", want: []Voter{{1, "127.0.0.1", 19092}, {2, "127.0.0.1", 19093}, {3, "127.0.0.1", 19094}}},
		{in: " 0@localhost:9093 , 7@[::1]:9094", want: []Voter{{0, "localhost", 9093}, {7, "::1", 9094}}},
		{in: "1@127.0.0.1", wantErr: true},
		{in: "127.0.0.1:19092", wantErr: true},
		{in: "x@127.0.0.1:19092", wantErr: true},
		{in: "-1@127.0.0.1:19092", wantErr: true},
		{in: "4294967296@127.0.0.1:19092", wantErr: true},
		{in: "1@:19092", wantErr: true},
		{in: "1@127.0.0.1:0", wantErr: true},
		{in: "1@127.0.0.1:65536", wantErr: true},
		{in: "1@127.0.0.1:port", wantErr: true},
		{in: "1@127.0.0.1:19092,", wantErr: true},
		{in: "1@127.0.0.1:19092,1@127.0.0.1:19093", wantErr: true},
		{in: "1@127.0.0.1:19092,2@127.0.0.1:19092", wantErr: true},
		{in: "1@::1:19092", wantErr: true},
	} {
		got, err := ParseQuorumVoters(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error, got %v", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if again, err := ParseQuorumVoters(FormatQuorumVoters(got)); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%q: format round trip gave %v, %v", tc.in, again, err)
		}
	}
	if got := (Voter{7, "::1", 9094}).Addr(); got != "[::1]:9094" {
		t.Errorf("IPv6 Addr = %s", got)
	}
}
