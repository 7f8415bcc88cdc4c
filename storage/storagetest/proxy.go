package storagetest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a real service, for outage tests that must not stop the shared server:
// Cut drops every connection and refuses new ones until Restore; Hang drops them too, but then accepts new
// ones and never answers, as a server that is up but stuck does.
type Proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	down    bool
	hanging bool
	conns   map[net.Conn]struct{}
}

// NewProxy listens on a free loopback port and forwards to target ("host:port") until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
	})
	return p
}

// Addr is the proxy's "host:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Hang closes every open connection, then accepts new ones and holds them open without a byte of answer.
func (p *Proxy) Hang() {
	p.Cut()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.hanging = false, true
}

// Restore lets connections through again, and closes those held by Hang.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hanging {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
	p.down, p.hanging = false, false
}

func (p *Proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(client)
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) handle(client net.Conn) {
	p.mu.Lock()
	hanging := p.hanging
	if hanging {
		p.conns[client] = struct{}{}
	}
	p.mu.Unlock()
	if hanging {
		return // held open, unanswered, until Restore or Cut closes it
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(client) || !p.track(server) {
		client.Close()
		if server != nil {
			server.Close()
		}
		return
	}
	go func() {
		_, _ = io.Copy(server, client)
		server.Close()
	}()
	_, _ = io.Copy(client, server)
	client.Close()
}
