package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// `apimctl gw deploy GW --docker | --kubernetes`: what a user needs to run a
// gateway as a container, with a fresh token from the control plane, the way
// Azure's portal hands out its Docker and Kubernetes deployment blades
// (docs/install.md, "Run as a container" and "Run on Kubernetes").
func init() {
	gwCommands["deploy"] = runGwDeploy
	registerHelp("gw deploy", Help{Usage: "gw deploy GATEWAY --docker | --kubernetes [--image IMG] [--namespace NS] [--replicas N] [--endpoint URL] [--expiry 720h]",
		Summary: "Prints what runs GATEWAY as a container, with a fresh token: an env file for docker run --env-file (the run line on stderr), or Kubernetes YAML (Secret, ConfigMap, PVC, Deployment or StatefulSet, Service, PodDisruptionBudget).",
		Example: "apimctl gw deploy edge-1 --docker > env.conf\napimctl gw deploy edge-1 --kubernetes --image registry.example/apimgw:0.1.0 --namespace apim > edge-1.yaml"})
}

// deployStderr is where the docker run line and notes go (tests replace it).
var deployStderr io.Writer = os.Stderr

// Defaults of the generated deployment.
const (
	deployImage     = "apimgw:latest"
	deployNamespace = "default"
	// The token's lifetime: the longest the control plane issues.
	deployExpiry = wire.MaxTokenLifetime
	// tokenDir is where the Kubernetes Secret is mounted; the gateway reads
	// the token from tokenDir/value and re-reads it when the Secret changes.
	tokenDir = "/run/secrets/apimgw"
)

// k8sName is what Kubernetes accepts as a resource name (RFC 1123 label).
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const deployUsage = "usage: apimctl gw deploy GATEWAY --docker | --kubernetes [--image IMG] [--namespace NS] [--replicas N] [--endpoint URL] [--expiry 720h]"

func runGwDeploy(args []string) int {
	var g globals
	fs := flag.NewFlagSet("apimctl gw deploy", flag.ContinueOnError)
	addGlobals(fs, &g)
	docker := fs.Bool("docker", false, "print an env file for docker/podman run --env-file (and the run line on stderr)")
	kube := fs.Bool("kubernetes", false, "print Kubernetes YAML: Secret, ConfigMap, PersistentVolumeClaim, Deployment, Service, PodDisruptionBudget")
	image := fs.String("image", deployImage, "container image")
	namespace := fs.String("namespace", deployNamespace, "Kubernetes namespace")
	replicas := fs.Int("replicas", 1, "Kubernetes replicas (more than 1: a StatefulSet, one store volume per replica)")
	endpoint := fs.String("endpoint", "", "control plane URL as the gateway reaches it (default: --server)")
	expiry := fs.Duration("expiry", deployExpiry, "token lifetime, at most 720h")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr("gw deploy: %v\n%s", err, deployUsage)
	}
	if len(pos) != 1 || *docker == *kube {
		return usageErr("%s", deployUsage)
	}
	gw := pos[0]
	if *expiry <= 0 || *expiry > wire.MaxTokenLifetime {
		return usageErr("gw deploy: --expiry %s: must be positive and at most 720h (30 days)", *expiry)
	}
	ep := *endpoint
	if ep == "" {
		ep = g.server
	}
	if u, err := url.Parse(ep); err != nil || u.Host == "" {
		return usageErr("gw deploy: --endpoint %q is not a URL", ep)
	}
	if *kube {
		if !k8sName.MatchString(gw) || len(gw) > 50 {
			return usageErr("gw deploy: %q cannot name Kubernetes resources (lower-case letters, digits and '-', at most 50)", gw)
		}
		if !k8sName.MatchString(*namespace) {
			return usageErr("gw deploy: --namespace %q is not a Kubernetes name", *namespace)
		}
		if *replicas < 1 || *replicas > 100 {
			return usageErr("gw deploy: --replicas %d: from 1 to 100", *replicas)
		}
	}
	exp := time.Now().Add(*expiry).UTC()
	data, _, err := g.client().do("POST", "/gateways/"+url.PathEscape(gw)+"/generateToken",
		map[string]any{"keyType": "primary", "expiry": exp.Format(time.RFC3339)})
	if err != nil {
		return fail(err)
	}
	var tok struct{ Value string }
	if err := json.Unmarshal(data, &tok); err != nil || tok.Value == "" {
		return fail(fmt.Errorf("the control plane's generateToken answer has no token: %s", data))
	}
	d := deployment{Gateway: gw, Endpoint: strings.TrimRight(ep, "/"), Token: "GatewayKey " + tok.Value, Expiry: exp,
		Image: *image, Namespace: *namespace, Replicas: *replicas}
	if *docker {
		writeEnvFile(stdout, d)
		fmt.Fprintf(deployStderr, "# save the above as env.conf, then:\n%s\n", dockerRunLine(d))
		return exitOK
	}
	if err := writeKubernetes(stdout, d); err != nil {
		return fail(err)
	}
	fmt.Fprintf(deployStderr, "# save the above as %s.yaml, then: kubectl apply -f %s.yaml\n# the token expires %s: rotate it with: apimctl gateway token %s | kubectl -n %s create secret generic %s-token --from-file=value=/dev/stdin --dry-run=client -o yaml | kubectl apply -f -\n",
		gw, gw, exp.Format(time.RFC3339), gw, d.Namespace, gw)
	return exitOK
}

// deployment is what the templates need.
type deployment struct {
	Gateway, Endpoint, Token string
	Expiry                   time.Time
	Image, Namespace         string
	Replicas                 int
}

// writeEnvFile writes the env file `docker run --env-file` takes: one
// KEY=VALUE a line, taken literally (no quotes), # comments.
func writeEnvFile(w io.Writer, d deployment) {
	fmt.Fprintf(w, "# apimgw gateway %s: docker run --env-file (token expires %s)\n", d.Gateway, d.Expiry.Format(time.RFC3339))
	fmt.Fprintf(w, "config.service.endpoint=%s\n", d.Endpoint)
	fmt.Fprintf(w, "config.service.auth=%s\n", d.Token)
}

// dockerRunLine is the command that runs the image with that env file, the
// store on a named volume so a restart serves at once without the control
// plane.
func dockerRunLine(d deployment) string {
	return fmt.Sprintf("docker run -d -p 80:8080 -p 443:8081 --name %s --restart unless-stopped --env-file env.conf -v %s-store:/var/lib/apimgw %s",
		d.Gateway, d.Gateway, d.Image)
}

func writeKubernetes(w io.Writer, d deployment) error {
	return kubeTmpl.Execute(w, d)
}

// kubeTmpl is the Kubernetes manifest. Every string value goes through q
// (a double-quoted YAML scalar), so no value can change the document's shape.
var kubeTmpl = template.Must(template.New("k8s").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(`# apimgw gateway {{.Gateway}}: kubectl apply -f {{.Gateway}}.yaml
# Made by apimctl gw deploy {{.Gateway}} --kubernetes; the token expires {{.Expiry.Format "2006-01-02T15:04:05Z07:00"}}.
apiVersion: v1
kind: Secret
metadata:
  name: {{q (print .Gateway "-token")}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
type: Opaque
stringData:
  # The gateway reads it from a file and re-reads it when the Secret
  # changes: rotating the token needs no restart.
  value: {{q .Token}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{q (print .Gateway "-env")}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
data:
  # env.conf keys, given to the gateway as environment variables (envFrom).
  config.service.endpoint: {{q .Endpoint}}
  config.service.auth.file: "` + tokenDir + `/value"
  listen.http: ":8080"
  # HTTPS needs listen.https.certificate and listen.https.key (a mounted
  # kubernetes.io/tls Secret); off until then.
  listen.https: ""
  telemetry.logs.std: "json"
  # Not an env.conf key: the Go runtime's soft memory limit, below the
  # container's 512Mi so the collector works harder before the kernel kills.
  GOMEMLIMIT: "384MiB"
{{- if eq .Replicas 1}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{q (print .Gateway "-store")}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
spec:
  # The configuration backup: a restarted pod serves from it at once, even
  # while the control plane is unreachable.
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: "1Gi"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{q .Gateway}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
spec:
  replicas: 1
  # One pod owns the store volume (and its bbolt file) at a time.
  strategy:
    type: Recreate
{{- else}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{q .Gateway}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
spec:
  replicas: {{.Replicas}}
  serviceName: {{q .Gateway}}
  podManagementPolicy: Parallel
  # Each replica has its own store volume (a bbolt file has one owner), kept
  # across restarts: a restarted pod serves from it at once.
  volumeClaimTemplates:
  - metadata:
      name: store
      labels: {{template "labels" .}}
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: "1Gi"
{{- end}}
  selector:
    matchLabels: {{template "labels" .}}
  template:
    metadata:
      labels: {{template "labels" .}}
    spec:
      # apimgw drains in-flight requests and flushes telemetry on SIGTERM
      # well within this.
      terminationGracePeriodSeconds: 30
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels: {{template "labels" .}}
      containers:
      - name: apimgw
        image: {{q .Image}}
        imagePullPolicy: IfNotPresent
        envFrom:
        - configMapRef:
            name: {{q (print .Gateway "-env")}}
        ports:
        - name: http
          containerPort: 8080
        - name: https
          containerPort: 8081
        # The 512 MiB appliance profile: the gateway's whole budget. No CPU
        # limit: throttling costs latency; the request only reserves.
        resources:
          requests:
            cpu: "250m"
            memory: "256Mi"
          limits:
            memory: "512Mi"
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: ["ALL"]
        # Azure's probe path: 200 once a configuration is loaded (from the
        # store or the control plane), 503 before.
        startupProbe:
          httpGet:
            path: /status-0123456789abcdef
            port: http
          periodSeconds: 2
          failureThreshold: 150
        readinessProbe:
          httpGet:
            path: /status-0123456789abcdef
            port: http
          periodSeconds: 5
          failureThreshold: 2
        livenessProbe:
          httpGet:
            path: /status-0123456789abcdef
            port: http
          periodSeconds: 10
          failureThreshold: 6
        volumeMounts:
        - name: token
          mountPath: "` + tokenDir + `"
          readOnly: true
        - name: store
          mountPath: "/var/lib/apimgw"
      volumes:
      - name: token
        secret:
          secretName: {{q (print .Gateway "-token")}}
          defaultMode: 0440
{{- if eq .Replicas 1}}
      - name: store
        persistentVolumeClaim:
          claimName: {{q (print .Gateway "-store")}}
{{- end}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{q .Gateway}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
spec:
  type: LoadBalancer
  selector: {{template "labels" .}}
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: https
    port: 443
    targetPort: https
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{q .Gateway}}
  namespace: {{q .Namespace}}
  labels: {{template "labels" .}}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {{template "labels" .}}
{{define "labels"}}{"app.kubernetes.io/name": "apimgw", "app.kubernetes.io/instance": {{q .Gateway}}}{{end -}}
`))
