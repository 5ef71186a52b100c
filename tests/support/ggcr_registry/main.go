// ggcr-registry serves go-containerregistry's in-memory registry (pkg/registry, the referrers
// API on) on a loopback address, so the tests have a second, independent registry
// implementation next to CNCF distribution. Built offline by `make go-tools` from Debian's
// golang-github-google-go-containerregistry-dev source.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback host:port to listen on (port 0: a free one)")
	verbose := flag.Bool("log", false, "log every request to stderr")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "ggcr-registry: -addr must be a loopback host:port, got %q\n", *addr)
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ggcr-registry: %v\n", err)
		os.Exit(1)
	}
	logger := log.New(io.Discard, "", 0)
	if *verbose {
		logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	handler := registry.New(registry.WithReferrersSupport(true), registry.Logger(logger))
	// The one line a caller waits for: the address actually bound.
	fmt.Printf("listening on %s\n", listener.Addr().String())
	os.Stdout.Sync()
	log.Fatal(http.Serve(listener, handler))
}
