// Command image builds apimgw's OCI images without a container engine
// (`make image`, mk/image.mk): one single-layer image per architecture from
// the static binary, the CA certificates and the time zone database of the
// build machine, as docker-archive tarballs (docker load / podman load) and
// one OCI image layout holding the multi-architecture index.
//
// The build is reproducible: every file in the layer has a fixed owner, mode
// and modification time (--created, the commit's time), entries are sorted,
// the configuration's dates are --created too, and gzip is deterministic, so
// the same inputs give the same digests.
//
// It is a separate Go module (packaging/image/go.mod) so that
// go-containerregistry is a dependency of the build tool, not of apimgw.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: an unprivileged uid/gid that exists in /etc/passwd
// (the number distroless uses for "nonroot").
const (
	uid      = 65532
	userName = "apimgw"
	binPath  = "usr/bin/apimgw"
	storeDir = "var/lib/apimgw"
	sbomPath = "usr/share/doc/apimgw/sbom.cdx.json"
)

type options struct {
	arches    []string
	binDir    string // <binDir>/<arch>/apimgw
	sbomDir   string // <sbomDir>/apimgw-<arch>.cdx.json from cyclonedx-gomod, optional
	outDir    string
	version   string
	revision  string
	source    string
	created   time.Time
	caFile    string
	zoneinfo  string
	maxBytes  int64
	imageName string
}

func main() {
	var o options
	var arches, created string
	flag.StringVar(&arches, "arch", "amd64,arm64", "architectures, comma-separated")
	flag.StringVar(&o.binDir, "bin", "dist/bin", "directory with <arch>/apimgw (static binaries)")
	flag.StringVar(&o.sbomDir, "sbom", "", "directory with cyclonedx-gomod's apimgw-<arch>.cdx.json: completed with the Debian packages, written beside the image and into it")
	flag.StringVar(&o.outDir, "out", "dist", "output directory")
	flag.StringVar(&o.version, "version", "", "version (the image tag; required)")
	flag.StringVar(&o.revision, "revision", "", "source revision (git commit; required)")
	flag.StringVar(&o.source, "source", "https://github.com/apimgw/apimgw", "source repository URL")
	flag.StringVar(&created, "created", "", "creation time: Unix seconds (SOURCE_DATE_EPOCH) or RFC 3339 (required)")
	flag.StringVar(&o.caFile, "ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle (Debian's ca-certificates)")
	flag.StringVar(&o.zoneinfo, "zoneinfo", "/usr/share/zoneinfo", "time zone database (Debian's tzdata)")
	flag.Int64Var(&o.maxBytes, "max-bytes", 20<<20, "fail when an image's compressed size exceeds this")
	flag.StringVar(&o.imageName, "name", "apimgw", "image name (repository) for the tags")
	flag.Parse()
	o.arches = strings.Split(arches, ",")
	t, err := parseCreated(created)
	if err != nil || o.version == "" || o.revision == "" {
		fmt.Fprintln(os.Stderr, "image: --version, --revision and --created are required", err)
		os.Exit(2)
	}
	o.created = t
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func parseCreated(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--created %q: neither Unix seconds nor RFC 3339", s)
	}
	return t.UTC(), nil
}

func build(o options) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, arch := range o.arches {
		img, err := buildImage(o, arch)
		if err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
		size, err := imageSize(img)
		if err != nil {
			return err
		}
		if size > o.maxBytes {
			return fmt.Errorf("%s: the image is %d bytes compressed, over the budget of %d", arch, size, o.maxBytes)
		}
		out := filepath.Join(o.outDir, "apimgw-image-"+arch+".tar")
		tags := []string{o.imageName + ":" + o.version, o.imageName + ":latest"}
		if err := writeDockerArchive(out, img, tags); err != nil {
			return err
		}
		d, _ := img.Digest()
		fmt.Printf("%s  %s  %.2f MiB compressed  %s\n", out, d, float64(size)/(1<<20), strings.Join(tags, " "))
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx = mutate.AppendManifests(idx, adds...)
	idx = mutate.Annotations(idx, labels(o)).(v1.ImageIndex)
	dir := filepath.Join(o.outDir, "apimgw-image-oci")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, ref := range []string{o.version, "latest"} {
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			return err
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s/  %s  index of %s\n", dir, d, strings.Join(o.arches, ", "))
	return nil
}

// labels are the OCI annotations every image and the index carry.
func labels(o options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "apimgw",
		"org.opencontainers.image.description": "Self-hosted, Azure API Management compatible gateway appliance",
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.url":         o.source,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
	}
}

func buildImage(o options, arch string) (v1.Image, error) {
	bin := filepath.Join(o.binDir, arch, "apimgw")
	if err := checkStatic(bin, arch); err != nil {
		return nil, err
	}
	var sbom []byte
	if o.sbomDir != "" {
		var err error
		if sbom, err = imageSBOM(o, filepath.Join(o.sbomDir, "apimgw-"+arch+".cdx.json")); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.outDir, "apimgw-image-"+arch+".cdx.json"), sbom, 0o644); err != nil {
			return nil, err
		}
	}
	data, err := rootfs(o, bin, sbom)
	if err != nil {
		return nil, err
	}
	// Compressed once here: the library would compress again on every read
	// of the layer (digest, archive, layout).
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "packaging/image (make image)", Comment: "apimgw " + o.version}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: o.created}
	cf.Author = "apimgw maintainers"
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{"/" + binPath},
		// No env.conf in the image: the environment configures it
		// (docker run --env-file, a ConfigMap through envFrom), or one is
		// mounted at /etc/apimgw/env.conf.
		Cmd:        []string{"--config", "/etc/apimgw/env.conf"},
		Env:        []string{"PATH=/usr/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		WorkingDir: "/",
		ExposedPorts: map[string]struct{}{
			"8080/tcp": {},
			"8081/tcp": {},
		},
		Volumes:    map[string]struct{}{"/" + storeDir: {}},
		Labels:     labels(o),
		StopSignal: "SIGTERM",
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels(o)).(v1.Image), nil
}

// checkStatic refuses a binary for another architecture or one that needs a
// dynamic loader (there is none in the image: "exec /usr/bin/apimgw: no such
// file or directory" would be all a user sees).
func checkStatic(bin, arch string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s: %w (make dist-bins builds it)", bin, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		return fmt.Errorf("%s is for %s, not %s", bin, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0", bin)
		}
	}
	return nil
}

// file is one entry of the image's root filesystem.
type file struct {
	name     string // without a leading slash; directories end without one
	typ      byte
	mode     int64
	uid      int
	data     []byte
	linkname string
}

// rootfs is the layer: the binary, passwd/group for the unprivileged user,
// CA certificates, the time zone database, the store directory, and the SBOM.
func rootfs(o options, bin string, sbom []byte) ([]byte, error) {
	var files []file
	add := func(name string, mode int64, data []byte) {
		files = append(files, file{name: name, typ: tar.TypeReg, mode: mode, data: data})
	}
	dir := func(name string, mode int64, owner int) {
		files = append(files, file{name: name, typ: tar.TypeDir, mode: mode, uid: owner})
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	add(binPath, 0o755, b)
	add("etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:apimgw gateway:/%s:/sbin/nologin\n", userName, uid, uid, storeDir)))
	add("etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)))
	add("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n"))
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (apt-get install ca-certificates)", err)
	}
	add("etc/ssl/certs/ca-certificates.crt", 0o644, ca)
	dir("etc/apimgw", 0o755, 0)
	dir(storeDir, 0o700, uid)
	dir("tmp", 0o1777, 0)
	if sbom != nil {
		add(sbomPath, 0o644, sbom)
	}
	zones := 0
	err = filepath.WalkDir(o.zoneinfo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(o.zoneinfo, p)
		name := path.Join("usr/share/zoneinfo", filepath.ToSlash(rel))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files = append(files, file{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: target})
		case d.IsDir():
			if rel != "." {
				dir(name, 0o755, 0)
			}
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			add(name, 0o644, data)
			zones++
		}
		return nil
	})
	if err != nil || zones < 100 {
		return nil, fmt.Errorf("time zone database %s: %d files, %v (apt-get install tzdata)", o.zoneinfo, zones, err)
	}
	// Every parent directory, once; then everything sorted by name.
	have := map[string]bool{}
	for _, f := range files {
		if f.typ == tar.TypeDir {
			have[f.name] = true
		}
	}
	for _, f := range append([]file(nil), files...) {
		for p := path.Dir(f.name); p != "."; p = path.Dir(p) {
			if !have[p] {
				have[p] = true
				dir(p, 0o755, 0)
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: o.created,
			Linkname: f.linkname, Format: tar.FormatPAX}
		if f.uid != 0 {
			h.Uname, h.Gname = userName, userName
		} else {
			h.Uname, h.Gname = "root", "root"
		}
		if f.typ == tar.TypeDir {
			h.Name += "/"
		}
		if f.typ == tar.TypeReg {
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// writeDockerArchive writes the `docker save` format (manifest.json, the
// config, the compressed layers) that docker load and podman load read,
// with fixed headers so the same image gives the same bytes.
func writeDockerArchive(out string, img v1.Image, tags []string) error {
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := put(cfgName.Hex+".json", cfg); err != nil {
		return err
	}
	var names []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		names = append(names, d.Hex+".tar.gz")
		if err := put(d.Hex+".tar.gz", data); err != nil {
			return err
		}
	}
	man, err := json.Marshal([]map[string]any{{"Config": cfgName.Hex + ".json", "RepoTags": tags, "Layers": names}})
	if err != nil {
		return err
	}
	if err := put("manifest.json", man); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return errors.Join(os.Rename(tmp, out))
}

// debPackages are the Debian packages whose files the image holds.
var debPackages = []string{"ca-certificates", "tzdata"}

// imageSBOM completes cyclonedx-gomod's SBOM of the binary into one of the
// image: the Debian packages the CA certificates and time zones come from are
// added as components, and the fields that would differ between two builds
// (the serial number, the timestamp) are fixed, so the image stays
// reproducible.
func imageSBOM(o options, path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SBOM: %w (make image-sboms writes it)", err)
	}
	var bom map[string]any
	if err := json.Unmarshal(raw, &bom); err != nil || bom["bomFormat"] != "CycloneDX" {
		return nil, fmt.Errorf("SBOM %s: not a CycloneDX JSON document (%v)", path, err)
	}
	delete(bom, "serialNumber")
	meta, _ := bom["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		bom["metadata"] = meta
	}
	meta["timestamp"] = o.created.Format(time.RFC3339)
	comps, _ := bom["components"].([]any)
	for _, p := range debPackages {
		out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", p).Output()
		if err != nil || len(out) == 0 {
			return nil, fmt.Errorf("SBOM: the version of Debian package %s: %v", p, err)
		}
		v := string(out)
		comps = append(comps, map[string]any{
			"type": "data", "name": p, "version": v, "bom-ref": "pkg:deb/debian/" + p + "@" + v,
			"purl": "pkg:deb/debian/" + p + "@" + v + "?arch=all", "supplier": map[string]any{"name": "Debian"},
		})
	}
	bom["components"] = comps
	buf, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(buf, '\n'), nil
}
