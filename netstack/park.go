package netstack

import (
	"context"
	"net"
	"os"
	"syscall"

	"github.com/panjf2000/gnet/v2"
)

// Flow control. gnet cannot pause reading a connection: it reads whatever the
// socket holds into the connection's inbound buffer, so a fast sender in front
// of a slow receiver would make the proxy buffer without bound. Instead, when
// the bytes queued toward the receiver pass highWater, the sender is parked: its
// socket is duplicated and gnet's copy is closed (which takes it out of epoll),
// so nobody reads it, the kernel's receive buffer fills and TCP pushes back on
// the sender. The loop's ticker checks parked connections; once the receiver's
// queue is below lowWater the socket is enrolled again on the same loop
// (EventLoop.Enroll) with the same state, and reading resumes.
//
// A connection is parked only from its own OnTraffic (returning gnet.Close, so
// gnet closes it before buffering anything more), with its input fully
// consumed and no output queued, so parking loses nothing.
const (
	highWater = 1 << 20
	lowWater  = 256 << 10
)

// parking is embedded in both connection kinds.
type parking struct {
	parked   bool // taken off the loop; fd is the socket
	resuming bool // enrollment in flight
	fd       int
}

// parkable is what the loop's ticker looks after.
type parkable interface {
	// checkParked runs on the loop each tick; it returns false once the
	// connection is no longer parked (resumed, resuming or closed).
	checkParked() bool
}

// park duplicates c's socket and returns gnet.Close for c's OnTraffic; ok is
// false (and nothing changed) if the socket cannot be duplicated.
func (p *parking) park(lp *loop, c gnet.Conn, self parkable) (gnet.Action, bool) {
	fd, err := c.Dup()
	if err != nil {
		return gnet.None, false
	}
	p.parked, p.fd = true, fd
	lp.parked = append(lp.parked, self)
	lp.tickSoon()
	lp.s.parks.Add(1)
	return gnet.Close, true
}

// unpark enrolls the parked socket again on lp's loop with self as context.
// failed runs on the loop if that does not work.
func (p *parking) unpark(lp *loop, self any, failed func(error)) {
	fd := p.fd
	p.parked, p.resuming, p.fd = false, true, -1
	go func() {
		f := os.NewFile(uintptr(fd), "parked")
		nc, err := net.FileConn(f)
		f.Close()
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			ch, err = lp.el.Enroll(gnet.NewContext(context.Background(), self), nc)
			if err != nil {
				nc.Close()
			} else if res := <-ch; res.Err != nil {
				err = res.Err
			}
		}
		if err != nil {
			lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				failed(err)
				return nil
			}))
		}
	}()
}

// dropParked closes a parked socket for good.
func (p *parking) dropParked() {
	if p.parked {
		syscall.Close(p.fd)
		p.parked, p.fd = false, -1
	}
}

// checkParked runs every parked connection's check; called by the ticker.
func (lp *loop) checkParked() {
	keep := lp.parked[:0]
	for _, p := range lp.parked {
		if p.checkParked() {
			keep = append(keep, p)
		}
	}
	for i := len(keep); i < len(lp.parked); i++ {
		lp.parked[i] = nil
	}
	lp.parked = keep
}

// Client side (uploads): the client is parked when the upstream does not take
// its body fast enough.

func (cc *clientConn) checkParked() bool {
	if !cc.parked {
		return false
	}
	if cc.closed {
		cc.dropParked()
		return false
	}
	up := cc.up
	if cc.wantResume || up == nil || up.closed || up.c == nil || up.parked || up.c.OutboundBuffered() < lowWater {
		cc.unpark(cc.lp, cc, cc.resumeFailed)
		return false
	}
	return true
}

func (cc *clientConn) resumeFailed(err error) {
	cc.resuming = false
	cc.x.Err = withCause(ErrFlowControl, err)
	cc.closeParked()
}

// closeParked ends a connection that is parked or resuming: there is no gnet
// connection to close, so do what onClose would.
func (cc *clientConn) closeParked() {
	cc.dropParked()
	cc.onCloseState()
}

// resumed runs on the loop when the parked client is enrolled again.
func (cc *clientConn) resumed(c gnet.Conn) {
	cc.resuming = false
	cc.c = c
	if cc.closed {
		c.Close()
		return
	}
	cc.wantResume = false
	if d := cc.deferredUpClose; d != nil {
		cc.deferredUpClose = nil
		d.closedFor(cc)
		return
	}
	if up := cc.up; up != nil && !up.closed && up.c != nil && up.c.InboundBuffered() > 0 {
		up.c.Wake(nil)
	}
}

// Upstream side (downloads): the upstream is parked when the client does not
// take the response fast enough.

func (uc *upConn) checkParked() bool {
	if !uc.parked {
		return false
	}
	cc := uc.client
	if uc.closed || cc == nil || cc.closed || cc.up != uc {
		uc.dropParked()
		uc.closed = true
		uc.lp.wheel.stop(&uc.timerNode)
		return false
	}
	if cc.c.OutboundBuffered() < lowWater {
		uc.unpark(uc.lp, uc, uc.resumeFailed)
		return false
	}
	return true
}

func (uc *upConn) resumeFailed(err error) {
	uc.resuming = false
	uc.closed = true
	cc := uc.client
	uc.client = nil
	if cc != nil && !cc.closed && cc.up == uc {
		cc.up = nil
		cc.x.Err = withCause(ErrFlowControl, err)
		cc.abort()
	}
}

func (uc *upConn) resumed(c gnet.Conn) {
	uc.resuming = false
	uc.c = c
	cc := uc.client
	if uc.closed || cc == nil || cc.closed || cc.up != uc {
		uc.closed = true
		c.Close()
		return
	}
	uc.armBodyIdle()
}
