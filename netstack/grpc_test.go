package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoService is a gRPC service written without generated code: Unary
// echoes, Fail returns NotFound, ServerStream sends three messages,
// ClientStream joins what it got, Bidi answers each message.
var echoService = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			md, _ := metadata.FromIncomingContext(ctx)
			grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t1"))
			return wrapperspb.String(fmt.Sprintf("echo:%s md:%v", in.Value, md.Get("x-md"))), nil
		}},
		{MethodName: "Fail", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return nil, status.Error(codes.NotFound, "no such thing")
		}},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", ServerStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := st.RecvMsg(in); err != nil {
				return err
			}
			for i := 0; i < 3; i++ {
				if err := st.SendMsg(wrapperspb.String(fmt.Sprint(in.Value, i))); err != nil {
					return err
				}
			}
			return nil
		}},
		{StreamName: "ClientStream", ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			all := ""
			for {
				in := new(wrapperspb.StringValue)
				err := st.RecvMsg(in)
				if err == io.EOF {
					return st.SendMsg(wrapperspb.String(all))
				}
				if err != nil {
					return err
				}
				all += in.Value
			}
		}},
		{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			for {
				in := new(wrapperspb.StringValue)
				err := st.RecvMsg(in)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := st.SendMsg(wrapperspb.String("re:" + in.Value)); err != nil {
					return err
				}
			}
		}},
	},
}

// TestGRPCPassThrough: a real gRPC client speaks h2c to the engine, which
// forwards over HTTP/2 (h2c) to a real gRPC server: unary with metadata and
// trailers, a status error (the trailers-only form), and the three
// streaming modes, the bidirectional one message by message.
func TestGRPCPassThrough(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&echoService, nil)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	h := &grpcStatusRec{tlsHandler: &tlsHandler{}, codes: make(chan [2]int, 16)}
	h.up.Store(NewUpstreamH2C(ln.Addr().String()))
	s := startProxy(t, h, Config{})
	cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out := new(wrapperspb.StringValue)
	var trailer metadata.MD
	mctx := metadata.AppendToOutgoingContext(ctx, "x-md", "m1")
	if err := cc.Invoke(mctx, "/test.Echo/Unary", wrapperspb.String("hi"), out, grpc.Trailer(&trailer)); err != nil {
		t.Fatalf("unary: %v", err)
	}
	if out.Value != "echo:hi md:[m1]" || fmt.Sprint(trailer.Get("x-trailer")) != "[t1]" {
		t.Errorf("unary: %q, trailer %v", out.Value, trailer)
	}
	if got := h.next(t); got != [2]int{0, 1} {
		t.Errorf("unary: Done saw grpc-status %v, want 0", got)
	}

	err = cc.Invoke(ctx, "/test.Echo/Fail", wrapperspb.String("x"), out)
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Errorf("status error: %v, want NotFound \"no such thing\"", err)
	}
	if got := h.next(t); got != [2]int{5, 1} {
		t.Errorf("status error: Done saw grpc-status %v, want 5", got)
	}

	ss, err := cc.NewStream(ctx, &echoService.Streams[0], "/test.Echo/ServerStream")
	if err != nil {
		t.Fatal(err)
	}
	ss.SendMsg(wrapperspb.String("n"))
	ss.CloseSend()
	var got []string
	for {
		m := new(wrapperspb.StringValue)
		if err := ss.RecvMsg(m); err != nil {
			if err != io.EOF {
				t.Errorf("server stream: %v", err)
			}
			break
		}
		got = append(got, m.Value)
	}
	if fmt.Sprint(got) != "[n0 n1 n2]" {
		t.Errorf("server stream: %v", got)
	}

	cs, err := cc.NewStream(ctx, &echoService.Streams[1], "/test.Echo/ClientStream")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		cs.SendMsg(wrapperspb.String(v))
	}
	cs.CloseSend()
	m := new(wrapperspb.StringValue)
	if err := cs.RecvMsg(m); err != nil || m.Value != "abc" {
		t.Errorf("client stream: %q %v", m.Value, err)
	}

	bs, err := cc.NewStream(ctx, &echoService.Streams[2], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"x", "y", "z"} {
		if err := bs.SendMsg(wrapperspb.String(v)); err != nil {
			t.Fatal(err)
		}
		m := new(wrapperspb.StringValue)
		if err := bs.RecvMsg(m); err != nil || m.Value != "re:"+v {
			t.Fatalf("bidi %s: %q %v", v, m.Value, err)
		}
	}
	bs.CloseSend()
	if err := bs.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Errorf("bidi end: %v", err)
	}
}

// grpcStatusRec forwards as tlsHandler does and reports each exchange's
// GRPCStatus (code, 1 when ok).
type grpcStatusRec struct {
	*tlsHandler
	codes chan [2]int
}

func (h *grpcStatusRec) Done(x *Exchange) {
	code, ok := x.GRPCStatus()
	v := [2]int{code, 0}
	if ok {
		v[1] = 1
	}
	h.codes <- v
}

func (h *grpcStatusRec) next(t *testing.T) [2]int {
	t.Helper()
	select {
	case v := <-h.codes:
		return v
	case <-time.After(5 * time.Second):
		return [2]int{-1, -1}
	}
}

// grpcAnswers answers each call by its path (the method name): the
// gateway's own answers a gRPC client may get. It records GRPCStatus and
// Status of each finished exchange.
type grpcAnswers struct {
	mu       sync.Mutex
	status   int    // /test.Echo/Error: RespondError(status, …)
	upstream string // other paths: forward here
	done     []doneRec
}

func (h *grpcAnswers) set(status int, upstream string) {
	h.mu.Lock()
	h.status, h.upstream = status, upstream
	h.mu.Unlock()
}

type doneRec struct {
	path         string
	status, code int
	ok           bool
}

func (h *grpcAnswers) Serve(x *Exchange) {
	x.Value = string(x.Req.Bytes(x.Req.Target)) // the head's bytes do not last until Done
	h.mu.Lock()
	status, upstream := h.status, h.upstream
	h.mu.Unlock()
	switch x.Value {
	case "/test.Echo/Error":
		x.RespondError(status, "refused by a policy")
	case "/test.Echo/Policy":
		// A policy's return-response with APIM's body and a header.
		x.Respond(429, "", []Field{{"Content-Type", "application/json"}, {"Retry-After", "7"}},
			[]byte(`{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds." }`))
	case "/test.Echo/Text":
		x.Respond(403, "", []Field{{"Content-Type", "text/plain"}}, []byte("forbidden: ü 100%\n"))
	case "/test.Echo/Own":
		// A handler's own gRPC answer goes out as it is.
		x.Respond(200, "", []Field{{"Content-Type", "application/grpc"}, {"Grpc-Status", "5"}, {"Grpc-Message", "own answer"}}, nil)
	case "/test.Echo/OwnBody", "/test.Echo/OwnBodyError":
		// A policy's return-response with a gRPC message as its body: the
		// status fields must come as trailers after it (0 when not set).
		msg, _ := proto.Marshal(wrapperspb.String("from a policy"))
		body := append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
		hdr := []Field{{"Content-Type", "application/grpc"}, {"X-Meta", "m1"}}
		if x.Value == "/test.Echo/OwnBodyError" {
			hdr = append(hdr, Field{"Grpc-Status", "5"}, Field{"Grpc-Message", "not here"})
		}
		x.Respond(200, "", hdr, body)
	case "/test.Echo/Suspend":
		x.Suspend()
		go x.Resume(func(x *Exchange) { x.RespondError(401, "Access denied due to missing subscription key.") })
	case "/test.Echo/Timeout":
		x.SetTimeout(100 * time.Millisecond)
		x.Forward(upstream)
	default:
		x.Forward(upstream)
	}
}

func (h *grpcAnswers) Done(x *Exchange) {
	code, ok := x.GRPCStatus()
	h.mu.Lock()
	path, _ := x.Value.(string)
	h.done = append(h.done, doneRec{path, x.Status, code, ok})
	h.mu.Unlock()
}

func (h *grpcAnswers) last(t *testing.T) doneRec {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.done)
		var d doneRec
		if n > 0 {
			d = h.done[n-1]
			h.done = h.done[:0]
		}
		h.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			return d
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGRPCGatewayErrors: a gRPC client (google.golang.org/grpc over h2c)
// gets the gateway's own answers as gRPC statuses — grpc-status by gRPC's
// HTTP-to-gRPC mapping and the answer's message as grpc-message (a client
// mapping a bare HTTP status itself would say "unexpected HTTP status
// code"); Done sees the code (GRPCStatus) and the HTTP status. HTTP/1.1 and
// non-gRPC HTTP/2 requests still get the JSON error.
func TestGRPCGatewayErrors(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens: unreachable
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() { // accepts and never answers: a response timeout
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	h := &grpcAnswers{upstream: deadAddr}
	s := startProxy(t, h, Config{Loops: 1})
	cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	invoke := func(method string) (*status.Status, metadata.MD) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var hdr, trl metadata.MD
		err := cc.Invoke(ctx, method, wrapperspb.String("x"), new(wrapperspb.StringValue), grpc.Header(&hdr), grpc.Trailer(&trl))
		st, _ := status.FromError(err)
		return st, metadata.Join(hdr, trl)
	}

	for _, c := range []struct {
		status int
		want   codes.Code
	}{
		{400, codes.Internal}, {401, codes.Unauthenticated}, {403, codes.PermissionDenied},
		{404, codes.Unimplemented}, {413, codes.Unknown}, {429, codes.Unavailable},
		{500, codes.Unknown}, {502, codes.Unavailable}, {503, codes.Unavailable}, {504, codes.Unavailable},
	} {
		h.set(c.status, deadAddr)
		st, _ := invoke("/test.Echo/Error")
		if st.Code() != c.want || st.Message() != "refused by a policy" {
			t.Errorf("HTTP %d: %v %q, want %v %q", c.status, st.Code(), st.Message(), c.want, "refused by a policy")
		}
		if d := h.last(t); d.status != c.status || !d.ok || d.code != int(c.want) {
			t.Errorf("HTTP %d: Done saw %+v, want status %d grpc-status %d", c.status, d, c.status, c.want)
		}
	}

	for _, c := range []struct {
		method string
		want   codes.Code
		msg    string
		status int
	}{
		{"/test.Echo/Policy", codes.Unavailable, "Rate limit is exceeded. Try again in 7 seconds.", 429},
		{"/test.Echo/Text", codes.PermissionDenied, "forbidden: ü 100%", 403},
		{"/test.Echo/Own", codes.NotFound, "own answer", 200},
		{"/test.Echo/OwnBody", codes.OK, "", 200},
		{"/test.Echo/OwnBodyError", codes.NotFound, "not here", 200},
		{"/test.Echo/Suspend", codes.Unauthenticated, "Access denied due to missing subscription key.", 401},
		{"/test.Echo/Unary", codes.Unavailable, "Backend service unreachable", 502},
	} {
		st, md := invoke(c.method)
		if st.Code() != c.want || st.Message() != c.msg {
			t.Errorf("%s: %v %q, want %v %q", c.method, st.Code(), st.Message(), c.want, c.msg)
		}
		if c.method == "/test.Echo/Policy" && fmt.Sprint(md.Get("retry-after")) != "[7]" {
			t.Errorf("%s: metadata %v, want retry-after 7", c.method, md)
		}
		if d := h.last(t); d.status != c.status || !d.ok || d.code != int(c.want) {
			t.Errorf("%s: Done saw %+v, want status %d grpc-status %d", c.method, d, c.status, c.want)
		}
	}
	// The message of a gRPC answer with a body reaches the client, and its
	// head's metadata.
	{
		var hdr metadata.MD
		reply := new(wrapperspb.StringValue)
		err := cc.Invoke(context.Background(), "/test.Echo/OwnBody", wrapperspb.String("x"), reply, grpc.Header(&hdr))
		if err != nil || reply.Value != "from a policy" || fmt.Sprint(hdr.Get("x-meta")) != "[m1]" {
			t.Errorf("a policy's gRPC answer with a body: %v %q, header %v", err, reply.Value, hdr)
		}
		h.last(t)
	}
	h.set(0, silent.Addr().String())
	if st, _ := invoke("/test.Echo/Timeout"); st.Code() != codes.Unavailable || st.Message() != "Backend did not respond in time" {
		t.Errorf("timeout: %v %q", st.Code(), st.Message())
	}
	h.last(t)

	// Not gRPC: HTTP/1.1 (even with a gRPC content-type) and HTTP/2 without
	// one get the JSON error as before.
	h.set(401, deadAddr)
	for name, c := range h2Clients(t, s) {
		req, _ := http.NewRequest("POST", c.base+"/test.Echo/Error", strings.NewReader("x"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || string(b) != `{"statusCode":401,"message":"refused by a policy"}` || resp.Header.Get("Grpc-Status") != "" {
			t.Errorf("%s: %d %q %v", name, resp.StatusCode, b, resp.Header)
		}
		if d := h.last(t); d.status != 401 || d.ok {
			t.Errorf("%s: Done saw %+v, want 401 without a gRPC status", name, d)
		}
	}
	// On the wire: one HEADERS frame that ends the stream (trailers-only),
	// without the HTTP/1.1 leg's content-length.
	r := dialH2(t, s.Addr().String())
	r.hbuf.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/test.Echo/Error"}, {":authority", "test"},
		{"content-type", "application/grpc+proto"}, {"te", "trailers"}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	r.until(5*time.Second, func(f http2.Frame) bool {
		mh, ok := f.(*http2.MetaHeadersFrame)
		if !ok || mh.StreamID != 1 {
			return false
		}
		got := map[string]string{}
		for _, hf := range mh.Fields {
			got[hf.Name] = hf.Value
		}
		want := map[string]string{":status": "200", "content-type": "application/grpc", "grpc-status": "16", "grpc-message": "refused by a policy"}
		if !mh.StreamEnded() || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("trailers-only: end %t, fields %v, want %v", mh.StreamEnded(), got, want)
		}
		return true
	})
	h.last(t)
	rawHTTP1 := rawExchange(t, s.Addr().String(), "POST /test.Echo/Error HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\nTE: trailers\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(rawHTTP1, "HTTP/1.1 401") || strings.Contains(strings.ToLower(rawHTTP1), "grpc-status") {
		t.Errorf("HTTP/1.1 gRPC content-type: %q", rawHTTP1)
	}
}

// TestH2AnswerBeforeBody: the handler answers a stream whose request body
// has not come (HEADERS without END_STREAM) and the client never sends it —
// as grpc-go does when the answer arrives before its DATA went out: it drops
// the queued DATA and sends nothing more. The exchange must end with the
// response, not wait a body timeout for a body that will not come: Done
// runs at once and the stream is reset with NO_ERROR (RFC 9113 §8.1: the
// client may stop sending). The connection serves the next stream.
func TestH2AnswerBeforeBody(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	h := &grpcAnswers{upstream: deadAddr}
	h.set(404, deadAddr)
	s := startProxy(t, h, Config{Loops: 1, BodyIdleTimeout: time.Minute})
	r := dialH2(t, s.Addr().String())
	r.fr.WriteSettingsAck()
	for _, id := range []uint32{1, 3} {
		r.hbuf.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/test.Echo/Error"}, {":authority", "test"},
			{"content-type", "application/grpc"}, {"te", "trailers"}} {
			r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hbuf.Bytes(), EndStream: false, EndHeaders: true})
		var answered bool
		var reset http2.ErrCode = 99
		r.until(5*time.Second, func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				answered = f.StreamID == id && f.StreamEnded()
			case *http2.RSTStreamFrame:
				if f.StreamID == id {
					reset = f.ErrCode
					return true
				}
			}
			return false
		})
		if !answered || reset != http2.ErrCodeNo {
			t.Fatalf("stream %d: answered %t, reset %v; want the answer, then RST_STREAM NO_ERROR", id, answered, reset)
		}
		if d := h.last(t); d.status != 404 || d.code != int(codes.Unimplemented) {
			t.Fatalf("stream %d: Done saw %+v", id, d)
		}
	}
	eventually(t, func() bool { return s.Active() == 0 })
}
