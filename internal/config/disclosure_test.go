package config

import (
	"strings"
	"testing"
)

// TestDisclosureKeysURL checks WHARF_DISCLOSURE_KEYS_URL (K9): off by default, https anywhere, http only on a
// loopback address, and a refusal that names the variable.
func TestDisclosureKeysURL(t *testing.T) {
	c, _, err := load(t, nil, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.DisclosureKeysURL != "" {
		t.Errorf("default DisclosureKeysURL = %q, want empty (the endpoint off)", c.DisclosureKeysURL)
	}

	for _, ok := range []string{
		"https://api.github.com/meta/public_keys/secret_scanning",
		"https://keys.example.org:8443/keys?format=json",
		"http://127.0.0.1:41234/keys",
		"http://[::1]:8080/keys",
		"http://localhost/keys",
	} {
		c, _, err := load(t, nil, map[string]string{"WHARF_DISCLOSURE_KEYS_URL": ok})
		if err != nil || c.DisclosureKeysURL != ok {
			t.Errorf("%q: DisclosureKeysURL = %q, err = %v; want it accepted", ok, c.DisclosureKeysURL, err)
		}
	}
	c, _, err = load(t, []string{"--disclosure-keys-url", "https://flag.example.org/keys"},
		map[string]string{"WHARF_DISCLOSURE_KEYS_URL": "https://env.example.org/keys"})
	if err != nil || c.DisclosureKeysURL != "https://flag.example.org/keys" {
		t.Errorf("flag over environment: DisclosureKeysURL = %q, err = %v", c.DisclosureKeysURL, err)
	}

	for _, bad := range []string{
		"http://api.github.com/meta/public_keys/secret_scanning",
		"http://10.0.0.1/keys",
		"ftp://keys.example.org/keys",
		"https:///keys",
		"https://user:secret@keys.example.org/keys",
		"api.github.com/meta/public_keys/secret_scanning",
		"https://keys.example.org/keys#frag",
	} {
		_, _, err := load(t, nil, map[string]string{"WHARF_DISCLOSURE_KEYS_URL": bad})
		if err == nil || !strings.Contains(err.Error(), "WHARF_DISCLOSURE_KEYS_URL") {
			t.Errorf("%q: err = %v, want a refusal naming WHARF_DISCLOSURE_KEYS_URL", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the refusal repeats the password: %v", bad, err)
		}
	}
}
