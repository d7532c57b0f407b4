package signing

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type vector struct {
	Source    string `json:"source"`
	Secret    string `json:"secret"`
	Body      string `json:"body"`
	Signature string `json:"signature"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 2 {
		t.Fatalf("testdata/vectors.json: %d vectors, want at least the 2 SDK vectors", len(vs))
	}
	return vs
}

func TestSignGolden(t *testing.T) {
	for _, v := range loadVectors(t) {
		if got := Sign(v.Secret, []byte(v.Body)); got != v.Signature {
			t.Errorf("Sign(%q, %q) = %s, want %s (%s)", v.Secret, v.Body, got, v.Signature, v.Source)
		}
		if !Verify(v.Secret, []byte(v.Body), v.Signature) {
			t.Errorf("Verify(%q, %q, %s) = false, want true", v.Secret, v.Body, v.Signature)
		}
	}
}

// The two vectors from the official SDKs, inline too, so a broken testdata
// file cannot hide a regression.
func TestSignSDKVectors(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	if got, want := Sign("secret", body), "2677ad3e7c090b2fa2c0fb13020d66d5420879b8316eb356a2d60fb9073bc778"; got != want {
		t.Errorf("Sign(secret) = %s, want %s", got, want)
	}
	if got, want := Sign("thisisasecret", body), "40e0ad3b9aa49529322879e84de1aaaf18bde1efe839ca263d540cc865510d25"; got != want {
		t.Errorf("Sign(thisisasecret) = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	const (
		secret = "secret"
		good   = "2677ad3e7c090b2fa2c0fb13020d66d5420879b8316eb356a2d60fb9073bc778"
	)
	body := []byte(`{"hello":"world"}`)
	tests := []struct {
		name      string
		secret    string
		body      []byte
		signature string
		want      bool
	}{
		{"exact lowercase", secret, body, good, true},
		{"uppercase hex", secret, body, strings.ToUpper(good), false},
		{"mixed case", secret, body, "2677AD3e7c090b2fa2c0fb13020d66d5420879b8316eb356a2d60fb9073bc778", false},
		{"sha256= prefix", secret, body, "sha256=" + good, false},
		{"trailing newline", secret, body, good + "\n", false},
		{"leading space", secret, body, " " + good, false},
		{"truncated", secret, body, good[:63], false},
		{"one extra char", secret, body, good + "0", false},
		{"empty signature", secret, body, "", false},
		{"wrong secret", "thisisasecret", body, good, false},
		{"body with trailing newline", secret, []byte("{\"hello\":\"world\"}\n"), good, false},
		{"re-serialised body", secret, []byte(`{"hello": "world"}`), good, false},
		{"empty secret never verifies", "", body, Sign("", body), false},
		{"nil body", secret, nil, Sign(secret, []byte{}), true},
		{"raw bytes not hex", secret, body, string(mustRaw(secret, body)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.secret, tt.body, tt.signature); got != tt.want {
				t.Errorf("Verify(%q, %q, %q) = %v, want %v", tt.secret, tt.body, tt.signature, got, tt.want)
			}
		})
	}
}

func mustRaw(secret string, body []byte) []byte {
	s := Sign(secret, body)
	out := make([]byte, len(s)/2)
	for i := range out {
		var b byte
		for _, c := range s[2*i : 2*i+2] {
			b <<= 4
			if c >= 'a' {
				b |= byte(c-'a') + 10
			} else {
				b |= byte(c - '0')
			}
		}
		out[i] = b
	}
	return out
}

func TestSignShape(t *testing.T) {
	s := Sign("x", []byte("anything"))
	if len(s) != 64 {
		t.Fatalf("len(Sign) = %d, want 64", len(s))
	}
	if strings.ToLower(s) != s {
		t.Fatalf("Sign = %s, want lowercase", s)
	}
}

func TestHeaderNames(t *testing.T) {
	if HeaderKey != "X-Pusher-Key" || HeaderSignature != "X-Pusher-Signature" {
		t.Fatalf("header names = %q, %q", HeaderKey, HeaderSignature)
	}
}
