# Container images (issue 13; docs/install.md "Run as a container" and "Run on
# Kubernetes").
#
# `make image` builds apimgw's OCI images without a container engine
# (packaging/image, go-containerregistry): for amd64 and arm64 from the static
# binaries of dist-bins, the build machine's CA certificates and time zone
# database, and a CycloneDX SBOM per architecture (cyclonedx-gomod bin). It writes
#   dist/apimgw-image-<arch>.tar       docker-archive: docker load / podman load,
#                                      tagged apimgw:$(VERSION) and apimgw:latest
#   dist/apimgw-image-oci/             OCI image layout with the multi-arch index
#   dist/apimgw-image-<arch>.cdx.json  the SBOM (also in the image)
# Reproducible: the same commit and tools give the same digests (file times
# and the image's dates are the commit's time).
#
# `make test-image` (part of `make test`) checks that, then runs the image with
# podman: the Docker path and the Kubernetes path (packaging/image/container_test.go).
IMAGE_ARCHES := amd64 arm64
IMAGE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_HOST_ARCH := $(shell $(GO) env GOARCH)

PACKAGE_TARGETS += image
TEST_TARGETS += test-image

.PHONY: image image-sboms test-image

# The SBOM of each binary from its embedded build information (go version -m),
# completed by packaging/image with the Debian packages the image holds.
image-sboms: dist-bins
	./scripts/deps.sh image
	@mkdir -p dist/sbom
	@for a in $(IMAGE_ARCHES); do \
		echo "sbom dist/sbom/apimgw-$$a.cdx.json"; \
		cyclonedx-gomod bin -json -noserial -version v$(VERSION) -output dist/sbom/apimgw-$$a.cdx.json \
			dist/bin/$$a/apimgw || exit 1; \
	done

image: dist-bins image-sboms
	cd packaging/image && $(GO) run . --arch $$(echo $(IMAGE_ARCHES) | tr ' ' ,) --bin ../../dist/bin --sbom ../../dist/sbom \
		--out ../../dist --version $(VERSION) --revision $(IMAGE_REVISION) --created $(IMAGE_EPOCH)

test-image: build image
	./scripts/deps.sh containers
	cd packaging/image && $(GO) vet . && APIMGW_IMAGE_TESTS=1 APIMGW_BIN=$(CURDIR)/$(BIN) APIMGW_DIST_BIN=$(CURDIR)/dist/bin APIMGW_SBOM_DIR=$(CURDIR)/dist/sbom \
		APIMGW_IMAGE_TAR=$(CURDIR)/dist/apimgw-image-$(IMAGE_HOST_ARCH).tar APIMGW_IMAGE_REF=apimgw:$(VERSION) \
		$(GO) test -count=1 -v -timeout 15m .
