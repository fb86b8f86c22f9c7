package web

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"wharf/internal/notify"
)

// mailQueue sends mail off the request path. A reset request must answer in the same time whether or not it
// found an account, and only one of the two sends mail; a slow relay must not hold a sign-up either.
type mailQueue struct {
	mailer  notify.Mailer
	log     *slog.Logger
	jobs    chan notify.Message
	pending sync.WaitGroup // queued and in-flight messages
}

// mailQueueSize bounds the memory held by unsent mail. The mail rate limits keep it far from full; a full queue
// drops the message (the user can ask again) rather than growing without bound.
const mailQueueSize = 1024

// sendTimeout bounds one delivery, so a stuck relay delays the queue rather than stopping it.
const sendTimeout = time.Minute

func newMailQueue(m notify.Mailer, log *slog.Logger) *mailQueue {
	return &mailQueue{mailer: m, log: log, jobs: make(chan notify.Message, mailQueueSize)}
}

// enqueue queues m. Nothing of the message but its kind is logged: bodies hold reset and verification links.
func (q *mailQueue) enqueue(m notify.Message) {
	q.pending.Add(1)
	select {
	case q.jobs <- m:
	default:
		q.pending.Done()
		q.log.Error("mail queue full: message dropped", "kind", m.Kind)
	}
}

func (q *mailQueue) run(ctx context.Context) {
	for {
		select {
		case m := <-q.jobs:
			q.send(m)
		case <-ctx.Done():
			for {
				select {
				case m := <-q.jobs:
					q.send(m)
				default:
					return
				}
			}
		}
	}
}

// send delivers one message on a context of its own: mail queued before shutdown still goes out.
func (q *mailQueue) send(m notify.Message) {
	defer q.pending.Done()
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	if err := q.mailer.Send(ctx, m); err != nil {
		q.log.Error("mail not sent", "kind", m.Kind, "err", err)
	}
}

func (q *mailQueue) wait() { q.pending.Wait() }

// queue builds a message and queues it; a message that cannot be built is a bug, logged without its content.
func (s *Site) queue(kind string, m notify.Message, err error) {
	if err != nil {
		s.log.Error("mail not built", "kind", kind, "err", err)
		return
	}
	s.mail.enqueue(m)
}

func (s *Site) mailVerification(to, token string) {
	m, err := s.letters.VerifyEmail(to, s.baseURL+"/account/verify-email/?token="+url.QueryEscape(token))
	s.queue(notify.KindVerifyEmail, m, err)
}

func (s *Site) mailReset(to, token string) {
	m, err := s.letters.PasswordReset(to, s.baseURL+"/account/reset-password/?token="+url.QueryEscape(token))
	s.queue(notify.KindPasswordReset, m, err)
}
