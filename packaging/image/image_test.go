package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// testOptions builds from the binaries and SBOMs make image made
// ($APIMGW_DIST_BIN, dist/bin; $APIMGW_SBOM_DIR, dist/sbom).
func testOptions(t *testing.T) options {
	return options{arches: []string{"amd64", "arm64"}, binDir: need(t, "APIMGW_DIST_BIN"), sbomDir: need(t, "APIMGW_SBOM_DIR"), outDir: t.TempDir(),
		version: "1.2.3", revision: "0123456789abcdef0123456789abcdef01234567", source: "https://github.com/apimgw/apimgw",
		created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), caFile: "/etc/ssl/certs/ca-certificates.crt",
		zoneinfo: "/usr/share/zoneinfo", maxBytes: 20 << 20, imageName: "apimgw"}
}

// Same inputs, same bytes: two builds give identical archives and index.
func TestReproducible(t *testing.T) {
	a, b := testOptions(t), testOptions(t)
	b.outDir = t.TempDir()
	if err := build(a); err != nil {
		t.Fatal(err)
	}
	if err := build(b); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"apimgw-image-amd64.tar", "apimgw-image-arm64.tar", "apimgw-image-oci/index.json", "apimgw-image-arm64.cdx.json"} {
		x, err1 := os.ReadFile(filepath.Join(a.outDir, f))
		y, err2 := os.ReadFile(filepath.Join(b.outDir, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s differs between two builds (%v %v)", f, err1, err2)
		}
	}
	// The layout holds one multi-arch index, tagged with the version and latest.
	p, err := layout.FromPath(filepath.Join(a.outDir, "apimgw-image-oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := top.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1.2.3" {
		t.Fatalf("index.json %+v", im.Manifests)
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "amd64" || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("multi-arch index %+v", m.Manifests)
	}
	img, err := idx.Image(m.Manifests[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	c := cf.Config
	if cf.Architecture != "arm64" || c.User != "65532:65532" || len(c.ExposedPorts) != 2 || len(c.Volumes) != 1 ||
		c.Labels["org.opencontainers.image.version"] != "1.2.3" || c.Labels["org.opencontainers.image.revision"] != a.revision ||
		c.Labels["org.opencontainers.image.licenses"] != "Apache-2.0" || c.Labels["org.opencontainers.image.source"] == "" {
		t.Fatalf("config %+v", cf)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Fatal("8080 not exposed")
	}
	if _, ok := c.Volumes["/var/lib/apimgw"]; !ok {
		t.Fatal("store not a volume")
	}
	// The layer: sorted, fixed times, the store owned by the user.
	layers, _ := img.Layers()
	rc, _ := layers[0].Uncompressed()
	defer rc.Close()
	tr := tar.NewReader(rc)
	prev, seen := "", map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name <= prev || !h.ModTime.Equal(a.created) {
			t.Fatalf("entry %s after %s, mtime %v", h.Name, prev, h.ModTime)
		}
		prev = h.Name
		seen[h.Name] = true
		if h.Name == "var/lib/apimgw/" && (h.Uid != 65532 || h.Mode != 0o700) {
			t.Fatalf("store dir %+v", h)
		}
		if h.Name == sbomPath {
			checkSBOM(t, tr)
		}
	}
	for _, want := range []string{sbomPath, "usr/bin/apimgw", "etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/Europe/Berlin", "etc/passwd", "var/lib/apimgw/"} {
		if !seen[want] {
			t.Errorf("image lacks %s", want)
		}
	}
}

// A dynamically linked binary is refused: the image has no loader.
func TestRefusesDynamicBinary(t *testing.T) {
	o := testOptions(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "amd64"), 0o755)
	self, _ := os.ReadFile("/bin/ls") // Debian's ls is dynamically linked
	os.WriteFile(filepath.Join(dir, "amd64", "apimgw"), self, 0o755)
	o.binDir, o.arches = dir, []string{"amd64"}
	if err := build(o); err == nil || !bytes.Contains([]byte(err.Error()), []byte("dynamically linked")) {
		t.Fatalf("err = %v", err)
	}
}

// checkSBOM: the image's SBOM is CycloneDX with the binary's Go modules and
// the Debian packages, without the fields that differ between builds.
func checkSBOM(t *testing.T, r io.Reader) {
	t.Helper()
	var bom struct {
		BOMFormat    string `json:"bomFormat"`
		SerialNumber string `json:"serialNumber"`
		Metadata     struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct{ Name, Version, Purl string } `json:"components"`
	}
	if err := json.NewDecoder(r).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range bom.Components {
		names[c.Name] = c.Version != "" && c.Purl != ""
	}
	if bom.BOMFormat != "CycloneDX" || bom.SerialNumber != "" || bom.Metadata.Timestamp != "2026-12-01T00:00:00Z" ||
		bom.Metadata.Component.Name != "github.com/apimgw/apimgw" || !names["github.com/panjf2000/gnet/v2"] || !names["tzdata"] || !names["ca-certificates"] {
		t.Fatalf("SBOM: %+v", bom)
	}
}
