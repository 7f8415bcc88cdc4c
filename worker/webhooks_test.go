package worker

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/webhook"
)

// testWebhookSecret is a whsec_ secret of 32 bytes.
var testWebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// receiver is a real HTTP receiver of webhooks that verifies every delivery with the Standard Webhooks
// library (an implementation other than the product's), answering 503 while down.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	verify *standardwebhooks.Webhook
	down   atomic.Bool
	mu     sync.Mutex
	got    map[string][]byte // webhook-id → body, delivered (2xx) ones only
	tries  atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	v, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: v, got: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.tries.Add(1)
		body, _ := io.ReadAll(req.Body)
		if err := r.verify.Verify(body, req.Header); err != nil {
			t.Errorf("delivery %s does not verify: %v", req.Header.Get("webhook-id"), err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.got[req.Header.Get("webhook-id")] = body
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// byType decodes what arrived, by event type.
func (r *receiver) byType() map[string][]map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]map[string]any{}
	for _, body := range r.got {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			r.t.Fatal(err)
		}
		typ, _ := m["type"].(string)
		out[typ] = append(out[typ], m)
	}
	return out
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// webhookHarness is a harness whose worker announces jobs and batches to rcv.
func webhookHarness(t *testing.T, rcv *receiver, retryMax time.Duration) *harness {
	h := newHarness(t)
	h.store.SetWebhookURLs([]string{rcv.srv.URL + "/hooks?token=receiver-secret"})
	key, err := webhook.ParseSecret(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.workerConfig(10 * time.Millisecond)
	cfg.WebhookSecret, cfg.WebhookRetryMax = key, retryMax
	h.worker = New(cfg)
	h.start()
	return h
}

// Every finished job and the finished batch are announced once, signed as Standard Webhooks verifies, and
// a job's webhook carries its status document (without stages) as the API shows it.
func TestWebhooksAnnounceJobsAndBatches(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	h := webhookHarness(t, rcv, 0)
	org, admin := h.Org("acme", false), h.User("ada")
	h.Member(org, admin, "owner")
	ok, failing := plainSetupRequest(org, admin), plainSetupRequest(h.Org("other", false), admin) // not a member there
	b, err := h.submitter.SubmitBatch(h.Ctx, []enqueue.BatchItem{{Request: &ok}, {Request: &failing}}, enqueue.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.eventually("two job webhooks and the batch's", func() bool { return rcv.count() == 3 })
	got := rcv.byType()
	if len(got["setup.succeeded"]) != 1 || len(got["setup.failed"]) != 1 || len(got["batch.finished"]) != 1 {
		t.Fatalf("webhooks by type: %v", got)
	}
	for _, typ := range []string{"setup.succeeded", "setup.failed"} {
		data, _ := json.Marshal(got[typ][0]["data"])
		var hooked ssosetup.SetupStatus
		if err := json.Unmarshal(data, &hooked); err != nil {
			t.Fatal(err)
		}
		st := mustStatus(h, hooked.SetupID)
		st.Stages = nil
		want, _ := json.Marshal(st)
		have, _ := json.Marshal(hooked)
		if string(want) != string(have) {
			t.Errorf("%s data\n%s\nwant the status document\n%s", typ, have, want)
		}
	}
	batch := got["batch.finished"][0]["data"].(map[string]any)
	counts, _ := json.Marshal(batch["counts"])
	if batch["batch_id"] != b.ID.String() || batch["finished_at"] == nil ||
		string(counts) != `{"cancelled":0,"failed":1,"queued":0,"running":0,"succeeded":1}` {
		t.Errorf("batch webhook data %v", batch)
	}
	var list []postgres.WebhookDelivery
	h.eventually("the batch's delivery recorded", func() bool {
		list, err = h.store.ListWebhookDeliveries(h.Ctx, postgres.WebhookFilter{BatchID: b.ID, State: "delivered", Limit: 10})
		return err != nil || len(list) > 0
	})
	if err != nil || len(list) != 1 || list[0].Attempts != 1 || list[0].LastStatus == nil || *list[0].LastStatus != 204 {
		t.Errorf("delivery log of the batch: %+v, %v", list, err)
	}
}

// A receiver that is down delays its webhooks, never a job; once it is back, every webhook is delivered, and
// the delivery log shows the failed attempts with their status.
func TestWebhooksWaitForAReceiverThatIsDown(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.down.Store(true)
	h := webhookHarness(t, rcv, 100*time.Millisecond)
	org, admin := h.Org("acme", false), h.User("ada")
	h.Member(org, admin, "owner")
	var ids []string
	for i := range 5 {
		req := plainSetupRequest(org, admin)
		if i > 0 {
			req.Flow, req.Provider = ssosetup.FlowLink, nil // the links of the same admin, after the setup
		}
		st := h.mustSucceed(req)
		ids = append(ids, st.SetupID.String())
	}
	h.eventually("a few failed attempts", func() bool { return rcv.tries.Load() >= 10 })
	if rcv.count() != 0 {
		t.Fatalf("%d webhooks taken by a receiver that is down", rcv.count())
	}
	pending, err := h.store.ListWebhookDeliveries(h.Ctx, postgres.WebhookFilter{State: "pending", Limit: 10})
	if err != nil || len(pending) != 5 || pending[0].LastStatus == nil || *pending[0].LastStatus != 503 || pending[0].LastError == nil {
		t.Fatalf("pending deliveries while the receiver is down: %+v, %v", pending, err)
	}
	for _, p := range pending {
		if p.LastError != nil && strings.Contains(*p.LastError, "receiver-secret") {
			t.Errorf("a delivery's error shows the URL's secret: %s", *p.LastError)
		}
	}
	rcv.down.Store(false)
	h.eventually("every webhook delivered once the receiver is back", func() bool { return rcv.count() == 5 })
	var delivered []string
	for _, hook := range rcv.byType()["setup.succeeded"] {
		delivered = append(delivered, hook["data"].(map[string]any)["setup_id"].(string))
	}
	if len(delivered) != 5 {
		t.Errorf("delivered %v, want the 5 jobs %v", delivered, ids)
	}
}
