package webauthntest

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "alice" }
func (u *user) WebAuthnDisplayName() string                { return "Alice" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func relyingParty(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "wharf", RPOrigins: []string{"http://localhost:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	return wa
}

// register runs a registration through go-webauthn, the verifier the package's output must satisfy.
func register(t *testing.T, wa *webauthn.WebAuthn, a *Authenticator, u *user, opts ...Option) (*webauthn.Credential, error) {
	t.Helper()
	creation, session, err := wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		t.Fatal(err)
	}
	options, err := json.Marshal(creation)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(options, opts...)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, err
	}
	return wa.CreateCredential(u, *session, parsed)
}

func TestBrowserJSONVerifies(t *testing.T) {
	for _, alg := range []int{ES256, EdDSA} {
		wa := relyingParty(t)
		a := New("localhost", "http://localhost:8080")
		u := &user{id: bytes.Repeat([]byte{7}, 32)}
		cred, err := register(t, wa, a, u, Alg(alg), Flags(true, true))
		if err != nil {
			t.Fatalf("alg %d: register: %v", alg, err)
		}
		if !cred.Flags.BackupEligible || !cred.Flags.BackupState || cred.Authenticator.SignCount != 0 {
			t.Errorf("alg %d: credential flags %+v, count %d", alg, cred.Flags, cred.Authenticator.SignCount)
		}
		if got := a.CredentialIDs(); len(got) != 1 || !bytes.Equal(got[0], cred.ID) {
			t.Errorf("alg %d: CredentialIDs = %x, want [%x]", alg, got, cred.ID)
		}
		u.creds = append(u.creds, *cred)

		if _, err := register(t, wa, a, u); !errors.Is(err, ErrExcluded) {
			t.Errorf("alg %d: second registration of an excluded authenticator: got %v, want ErrExcluded", alg, err)
		}

		for i, discoverable := range []bool{false, true} {
			var assertion *protocol.CredentialAssertion
			var session *webauthn.SessionData
			if discoverable {
				assertion, session, err = wa.BeginDiscoverableLogin()
			} else {
				assertion, session, err = wa.BeginLogin(u)
			}
			if err != nil {
				t.Fatal(err)
			}
			options, _ := json.Marshal(assertion)
			body, err := a.Assert(options)
			if err != nil {
				t.Fatalf("alg %d: assert: %v", alg, err)
			}
			parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
			if err != nil {
				t.Fatalf("alg %d: parse assertion: %v", alg, err)
			}
			if !bytes.Equal(parsed.Response.UserHandle, u.id) {
				t.Errorf("alg %d: user handle %x, want %x", alg, parsed.Response.UserHandle, u.id)
			}
			var got *webauthn.Credential
			if discoverable {
				got, err = wa.ValidateDiscoverableLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, *session, parsed)
			} else {
				got, err = wa.ValidateLogin(u, *session, parsed)
			}
			if err != nil {
				t.Fatalf("alg %d, discoverable %v: verify: %v", alg, discoverable, err)
			}
			if got.Authenticator.SignCount != uint32(2*i+1) || got.Authenticator.CloneWarning {
				t.Errorf("alg %d: count %d, clone warning %v; want %d, false", alg, got.Authenticator.SignCount, got.Authenticator.CloneWarning, 2*i+1) // the bad signature below counts too
			}
			u.creds[0] = *got

			// The same request with a bad signature must fail: the good case above is not an accident.
			body, err = a.Assert(options, BadSignature())
			if err != nil {
				t.Fatal(err)
			}
			parsed, err = protocol.ParseCredentialRequestResponseBytes(body)
			if err != nil {
				t.Fatal(err)
			}
			validate := func(*protocol.ParsedCredentialAssertionData) error {
				_, err := wa.ValidateLogin(u, *session, parsed)
				return err
			}
			if discoverable {
				validate = func(*protocol.ParsedCredentialAssertionData) error {
					_, err := wa.ValidateDiscoverableLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, *session, parsed)
					return err
				}
			}
			if err := validate(parsed); err == nil {
				t.Errorf("alg %d, discoverable %v: bad signature verified", alg, discoverable)
			}
		}
	}
}

func TestOptionsWithoutWrapper(t *testing.T) {
	a := New("localhost", "http://localhost:8080")
	opts := []byte(`{"rp":{"id":"localhost"},"user":{"id":"AQID"},"challenge":"AAAAAAAAAAAAAAAAAAAAAA","pubKeyCredParams":[{"type":"public-key","alg":-257},{"type":"public-key","alg":-8}]}`)
	body, err := a.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Response struct{ PublicKeyAlgorithm int }
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Response.PublicKeyAlgorithm != EdDSA {
		t.Errorf("algorithm = %d, %v; want EdDSA, the first one offered that it supports", got.Response.PublicKeyAlgorithm, err)
	}
	if _, err := a.Register([]byte(`{"challenge":"AAAA","user":{"id":"AQ"},"pubKeyCredParams":[{"alg":-257}]}`)); !errors.Is(err, ErrNoAlgorithm) {
		t.Errorf("only RS256 offered: got %v, want ErrNoAlgorithm", err)
	}
}
