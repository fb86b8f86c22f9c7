package projects

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"
)

func TestInvitationLinks(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	newManager := func(key byte) *Manager {
		m, err := New(nil, nil, nil, nil, bytes.Repeat([]byte{key}, 32), func() time.Time { return now }, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := newManager('k')
	token, hash, err := m.newLink(now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := m.newLink(now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if token == other {
		t.Error("two links share a token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}

	for _, tc := range []struct {
		name  string
		m     *Manager
		token string
		at    time.Time
		ok    bool
	}{
		{"valid", m, token, now, true},
		{"valid until just before expiry", m, token, now.Add(time.Hour - time.Second), true},
		{"at expiry", m, token, now.Add(time.Hour), false},
		{"another server key", newManager('x'), token, now, false},
		{"expiry changed", m, flip(7), now, false},
		{"nonce changed", m, flip(8 + 5), now, false},
		{"MAC changed", m, flip(len(raw) - 1), now, false},
		{"truncated", m, token[:len(token)-1], now, false},
		{"extended", m, token + "A", now, false},
		{"not base64 of the right length", m, "!" + token[1:], now, false},
		{"empty", m, "", now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.m.checkLink(tc.token, tc.at)
			if ok != tc.ok || ok && got != hash {
				t.Errorf("checkLink = %q, %v; want ok=%v and hash %q", got, ok, tc.ok, hash)
			}
		})
	}
}
