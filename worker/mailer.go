package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Mailer delivers one e-mail.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Message is one plain-text e-mail. MessageID is deterministic (setup and member), so that a receiver can
// recognise the rare second delivery of a message whose sending crashed before it was recorded.
type Message struct {
	To, Subject, Body string
	MessageID         string // without the angle brackets
	Date              time.Time
}

// SMTPMailer sends through an SMTP server given as smtp://[user:password@]host:port (STARTTLS when the
// server offers it, required with credentials) or smtps://… (TLS from the first byte).
type SMTPMailer struct {
	addr      string
	implicit  bool // smtps
	auth      smtp.Auth
	from      string
	tlsConfig *tls.Config
}

// NewSMTPMailer parses an SMTP_URL. tlsConfig may be nil (the system's roots, the URL's host name).
func NewSMTPMailer(rawURL, from string, tlsConfig *tls.Config) (*SMTPMailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		return nil, fmt.Errorf("want smtp://[user:password@]host:port or smtps://…")
	}
	m := &SMTPMailer{addr: u.Host, from: from, implicit: u.Scheme == "smtps"}
	if u.Port() == "" {
		m.addr = net.JoinHostPort(u.Hostname(), map[bool]string{true: "465", false: "25"}[m.implicit])
	}
	if pw, ok := u.User.Password(); ok {
		m.auth = smtp.PlainAuth("", u.User.Username(), pw, u.Hostname())
	}
	m.tlsConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		m.tlsConfig = tlsConfig.Clone()
		if m.tlsConfig.ServerName == "" {
			m.tlsConfig.ServerName = u.Hostname()
		}
	}
	return m, nil
}

// IsPermanent reports whether a sending error is the server's final word on the message (5xx): recorded on
// the e-mail, never retried. Anything else (4xx, a network error) is retried.
func IsPermanent(err error) bool {
	var tpErr *textproto.Error
	return errors.As(err, &tpErr) && tpErr.Code >= 500
}

// Send delivers one e-mail.
func (m *SMTPMailer) Send(ctx context.Context, msg Message) error {
	if strings.ContainsAny(msg.To+msg.Subject+msg.MessageID, "\r\n") {
		return &textproto.Error{Code: 554, Msg: "refusing a header with a line break"}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if m.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: m.tlsConfig}).DialContext(ctx, "tcp", m.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", m.addr)
	}
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := smtp.NewClient(conn, m.tlsConfig.ServerName)
	if err != nil {
		conn.Close()
		return err
	}
	accepted := false
	defer func() {
		if !accepted {
			c.Close()
		}
	}()
	if !m.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(m.tlsConfig); err != nil {
				return err
			}
		} else if m.auth != nil {
			return fmt.Errorf("SMTP server %s does not offer STARTTLS: refusing to send credentials in clear (use smtps:// or a server with STARTTLS)", m.addr)
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from); err != nil {
		return err
	}
	if err := c.Rcpt(msg.To); err != nil {
		return err
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	raw := "From: " + m.from + "\r\nTo: " + msg.To + "\r\nSubject: " + msg.Subject +
		"\r\nDate: " + msg.Date.Format(time.RFC1123Z) + "\r\nMessage-ID: <" + msg.MessageID + ">" +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(msg.Body, "\n", "\r\n")
	if _, err := wc.Write([]byte(raw)); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	// The server has accepted the message. Say goodbye in the background, so that the caller records it as
	// sent at once: a crash between the server's acceptance and that record is the one way a message can go
	// twice (with the same Message-ID), and the goodbye would only widen it.
	accepted = true
	go func() {
		_ = c.Quit()
		c.Close()
	}()
	return nil
}
