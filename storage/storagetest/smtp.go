package storagetest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPServer is a real SMTP server on loopback (emersion/go-smtp) that speaks the protocol over TCP, with
// STARTTLS (or TLS from the first byte), for the e-mail tests. It counts the messages it accepted by
// Message-ID, and can refuse recipients, or every message while it is down.
type SMTPServer struct {
	Addr  string
	Roots *x509.CertPool // trusts the server's certificate (for localhost and 127.0.0.1)

	mu       sync.Mutex
	received map[string]int // Message-ID → messages accepted
	headers  map[string]textproto.MIMEHeader
	refuse   map[string]*smtp.SMTPError // recipient → the error its RCPT gets
	down     *smtp.SMTPError            // when set, every RCPT gets it
	hold     chan struct{}              // when not nil, DATA waits for it to close
}

// SMTP server modes: what the server offers of TLS.
const (
	SMTPStartTLS = "starttls" // smtp:// with STARTTLS
	SMTPImplicit = "smtps"    // TLS from the first byte
	SMTPPlain    = "plain"    // no TLS at all (a relay on loopback, for worker processes that trust no test CA)
)

// NewSMTPServer starts a server in mode until the test ends.
func NewSMTPServer(t testing.TB, mode string) *SMTPServer {
	t.Helper()
	cert, roots := selfSigned(t)
	s := &SMTPServer{Roots: roots, received: map[string]int{}, headers: map[string]textproto.MIMEHeader{},
		refuse: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain = "localhost"
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	if mode != SMTPPlain {
		srv.TLSConfig = tlsConfig
	}
	var ln net.Listener
	var err error
	if mode == SMTPImplicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

// Refuse makes RCPT TO of to fail with code (nil error code 0 lifts it).
func (s *SMTPServer) Refuse(to string, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.refuse, to)
		return
	}
	s.refuse[to] = &smtp.SMTPError{Code: code, Message: msg}
}

// Down makes every message fail with 421 until Up: the server is unavailable.
func (s *SMTPServer) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = &smtp.SMTPError{Code: 421, Message: "service not available, try later"}
}

// Up ends Down.
func (s *SMTPServer) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = nil
}

// Hold makes every DATA wait until the returned function is called.
func (s *SMTPServer) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = make(chan struct{})
	hold := s.hold
	return func() { close(hold) }
}

// Count returns how many messages with Message-ID id (angle brackets included) were accepted.
func (s *SMTPServer) Count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[id]
}

// Received returns the number of messages accepted per Message-ID.
func (s *SMTPServer) Received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.received))
	for k, v := range s.received {
		out[k] = v
	}
	return out
}

// Header returns the header of the message with Message-ID id.
func (s *SMTPServer) Header(id string) textproto.MIMEHeader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[id]
}

type smtpSession struct{ s *SMTPServer }

func (x *smtpSession) Reset()                               {}
func (x *smtpSession) Logout() error                        { return nil }
func (x *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.down != nil {
		return x.s.down
	}
	if err := x.s.refuse[to]; err != nil {
		return err
	}
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	x.s.mu.Lock()
	hold := x.s.hold
	x.s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	header, err := textproto.NewReader(bufio.NewReader(r)).ReadMIMEHeader()
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, r)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	id := header.Get("Message-Id")
	x.s.received[id]++
	x.s.headers[id] = header
	return nil
}

// selfSigned makes a certificate for localhost and 127.0.0.1, and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}
