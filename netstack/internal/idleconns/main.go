// Command idleconns is a benchmark fixture: it opens N keep-alive connections
// to an HTTP server, makes one request on each, then holds them idle until
// stdin closes, so the server's memory per idle connection can be measured.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"syscall"
)

func main() {
	addr := flag.String("addr", "", "server host:port")
	n := flag.Int("n", 10000, "connections")
	path := flag.String("path", "/", "request path")
	flag.Parse()
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	conns := make([]net.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			log.Fatalf("idleconns: connection %d: %v", i, err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", *path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			log.Fatalf("idleconns: response %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conns = append(conns, c)
	}
	fmt.Println("ready", len(conns))
	io.Copy(io.Discard, os.Stdin)
}
