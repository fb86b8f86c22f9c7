package projects

import (
	"bytes"
	"encoding/base64"
	"errors"
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
		want  error
	}{
		{"valid", m, token, now, nil},
		{"valid until just before expiry", m, token, now.Add(time.Hour - time.Second), nil},
		{"at expiry", m, token, now.Add(time.Hour), ErrInvitationExpired},
		{"another server key", newManager('x'), token, now, ErrLinkAltered},
		{"expiry changed", m, flip(7), now, ErrLinkAltered},
		{"expiry changed, long after", m, flip(7), now.Add(time.Hour), ErrLinkAltered},
		{"nonce changed", m, flip(8 + 5), now, ErrLinkAltered},
		{"MAC changed", m, flip(len(raw) - 1), now, ErrLinkAltered},
		{"truncated", m, token[:len(token)-1], now, ErrLinkAltered},
		{"extended", m, token + "A", now, ErrLinkAltered},
		{"not base64 of the right length", m, "!" + token[1:], now, ErrLinkAltered},
		{"empty", m, "", now, ErrLinkAltered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.checkLink(tc.token, tc.at)
			if err != tc.want || err == nil && got != hash || err != nil && !errors.Is(err, ErrNoSuchInvitation) {
				t.Errorf("checkLink = %q, %v; want %v and hash %q, and every refusal ErrNoSuchInvitation", got, err, tc.want, hash)
			}
		})
	}
}
