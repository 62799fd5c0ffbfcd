package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/apimgw/apimgw/appliance/envconf"
)

// deployCtl runs apimctl gw deploy and returns stdout and stderr.
func deployCtl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var errBuf bytes.Buffer
	deployStderr = &errBuf
	defer func() { deployStderr = os.Stderr }()
	code, out := ctl(t, append([]string{"gw", "deploy"}, args...)...)
	return code, out, errBuf.String()
}

// The env file is one the gateway reads as env.conf and docker takes as
// --env-file (KEY=VALUE, no quotes); the run line goes to stderr.
func TestDeployDocker(t *testing.T) {
	_, url := startServer(t)
	mustCtl(t, "gateway", "create", "gw1", "--location", "edge")
	code, out, errOut := deployCtl(t, "gw1", "--docker")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// As env.conf, and as the environment docker gives the container.
	p := filepath.Join(t.TempDir(), "env.conf")
	os.WriteFile(p, []byte(out), 0o600)
	c, err := envconf.LoadEnv(p, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c.Endpoint != url || c.Token == nil || c.Token.GatewayID != "gw1" || len(c.Warnings) != 0 {
		t.Fatalf("env file %s gives %+v", out, c)
	}
	var environ []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			environ = append(environ, l) // docker passes the line as it is
		}
	}
	c2, err := envconf.LoadEnv(filepath.Join(t.TempDir(), "none", "env.conf"), environ)
	if err != nil || !c2.Token.Equal(*c.Token) {
		t.Fatalf("as environment: %v", err)
	}
	want := "docker run -d -p 80:8080 -p 443:8081 --name gw1 --restart unless-stopped --env-file env.conf -v gw1-store:/var/lib/apimgw apimgw:latest"
	if !strings.Contains(errOut, want) {
		t.Fatalf("stderr %q lacks %q", errOut, want)
	}
	// A gateway the control plane does not know gets no token.
	code, _, _ = deployCtl(t, "nosuch", "--docker")
	if code == exitOK {
		t.Fatal("unknown gateway accepted")
	}
	for _, bad := range [][]string{{"gw1"}, {"gw1", "--docker", "--kubernetes"}, {"gw1", "--kubernetes", "--replicas", "0"},
		{"Gw_1", "--kubernetes"}, {"gw1", "--kubernetes", "--namespace", "A B"}, {"gw1", "--docker", "--expiry", "1000h"}} {
		if code, _, _ := deployCtl(t, bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want usage", bad, code)
		}
	}
}

// decodeStrict decodes one YAML document into v, rejecting unknown fields
// (a misspelt or misplaced field would be dropped by the API server).
func decodeStrict(doc string, v any) error {
	return yaml.UnmarshalStrict([]byte(doc), v)
}

// manifest is the decoded multi-document YAML.
type manifest struct {
	secret      *corev1.Secret
	configMap   *corev1.ConfigMap
	pvc         *corev1.PersistentVolumeClaim
	deployment  *appsv1.Deployment
	statefulSet *appsv1.StatefulSet
	service     *corev1.Service
	pdb         *policyv1.PodDisruptionBudget
}

func decodeManifest(t *testing.T, y string) manifest {
	t.Helper()
	var m manifest
	for i, doc := range strings.Split(y, "\n---\n") {
		var tm struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		var err error
		switch tm.Kind {
		case "Secret":
			m.secret = new(corev1.Secret)
			err = decodeStrict(doc, m.secret)
		case "ConfigMap":
			m.configMap = new(corev1.ConfigMap)
			err = decodeStrict(doc, m.configMap)
		case "PersistentVolumeClaim":
			m.pvc = new(corev1.PersistentVolumeClaim)
			err = decodeStrict(doc, m.pvc)
		case "Deployment":
			m.deployment = new(appsv1.Deployment)
			err = decodeStrict(doc, m.deployment)
		case "StatefulSet":
			m.statefulSet = new(appsv1.StatefulSet)
			err = decodeStrict(doc, m.statefulSet)
		case "Service":
			m.service = new(corev1.Service)
			err = decodeStrict(doc, m.service)
		case "PodDisruptionBudget":
			m.pdb = new(policyv1.PodDisruptionBudget)
			err = decodeStrict(doc, m.pdb)
		default:
			t.Fatalf("document %d: unexpected kind %q", i, tm.Kind)
		}
		if err != nil {
			t.Fatalf("document %d (%s): %v", i, tm.Kind, err)
		}
	}
	return m
}

func TestDeployKubernetes(t *testing.T) {
	_, url := startServer(t)
	mustCtl(t, "gateway", "create", "gw1", "--location", "edge")
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprint("replicas=", replicas), func(t *testing.T) {
			code, out, errOut := deployCtl(t, "gw1", "--kubernetes", "--image", "registry.example/apimgw:1.2.3", "--namespace", "edge",
				"--replicas", fmt.Sprint(replicas))
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			m := decodeManifest(t, out)
			if m.secret == nil || m.configMap == nil || m.service == nil || m.pdb == nil {
				t.Fatalf("missing documents: %+v", m)
			}
			// The Secret holds a token the gateway accepts; the ConfigMap
			// holds env.conf keys that point at it.
			tokDir := t.TempDir()
			os.WriteFile(filepath.Join(tokDir, "value"), []byte(m.secret.StringData["value"]), 0o600)
			var environ []string
			for k, v := range m.configMap.Data {
				if k == "config.service.auth.file" {
					if v != tokenDir+"/value" {
						t.Fatalf("auth file %q", v)
					}
					v = filepath.Join(tokDir, "value")
				}
				environ = append(environ, k+"="+v)
			}
			c, err := envconf.LoadEnv(filepath.Join(tokDir, "none", "env.conf"), environ)
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint != url || c.Token.GatewayID != "gw1" || c.ListenHTTP != ":8080" || len(c.Warnings) != 0 {
				t.Fatalf("config from the manifest: %+v", c)
			}
			for _, obj := range []string{m.secret.Namespace, m.configMap.Namespace, m.service.Namespace, m.pdb.Namespace} {
				if obj != "edge" {
					t.Fatalf("namespace %q", obj)
				}
			}
			var spec corev1.PodSpec
			var gotReplicas int32
			switch replicas {
			case 1:
				if m.deployment == nil || m.pvc == nil || m.statefulSet != nil {
					t.Fatal("one replica: want a Deployment and a PVC")
				}
				spec, gotReplicas = m.deployment.Spec.Template.Spec, *m.deployment.Spec.Replicas
				if m.deployment.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Fatal("a Deployment with one store volume must recreate")
				}
				if spec.Volumes[1].PersistentVolumeClaim == nil || spec.Volumes[1].PersistentVolumeClaim.ClaimName != m.pvc.Name {
					t.Fatalf("store volume %+v", spec.Volumes[1])
				}
			default:
				if m.statefulSet == nil || m.deployment != nil || m.pvc != nil || len(m.statefulSet.Spec.VolumeClaimTemplates) != 1 {
					t.Fatal("several replicas: want a StatefulSet with a volume claim template")
				}
				spec, gotReplicas = m.statefulSet.Spec.Template.Spec, *m.statefulSet.Spec.Replicas
			}
			if int(gotReplicas) != replicas {
				t.Fatalf("replicas %d", gotReplicas)
			}
			ctr := spec.Containers[0]
			sc := ctr.SecurityContext
			switch {
			case ctr.Image != "registry.example/apimgw:1.2.3":
				t.Fatalf("image %q", ctr.Image)
			case spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot:
				t.Fatal("runAsNonRoot missing")
			case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
				len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Fatalf("container security context %+v", sc)
			case spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != 30:
				t.Fatal("terminationGracePeriodSeconds")
			case len(spec.TopologySpreadConstraints) != 1:
				t.Fatal("topology spread")
			case ctr.Resources.Limits.Memory().String() != "512Mi" || ctr.Resources.Requests.Memory().String() != "256Mi":
				t.Fatalf("resources %+v", ctr.Resources)
			case len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].ConfigMapRef.Name != m.configMap.Name:
				t.Fatal("envFrom")
			case spec.Volumes[0].Secret == nil || spec.Volumes[0].Secret.SecretName != m.secret.Name || ctr.VolumeMounts[0].MountPath != tokenDir || ctr.VolumeMounts[0].SubPath != "":
				t.Fatal("the Secret must be mounted as a directory (a subPath mount never sees updates)")
			case ctr.VolumeMounts[1].MountPath != "/var/lib/apimgw":
				t.Fatal("store mount")
			}
			for name, p := range map[string]*corev1.Probe{"startup": ctr.StartupProbe, "readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/status-0123456789abcdef" || p.HTTPGet.Port.String() != "http" {
					t.Fatalf("%s probe %+v", name, p)
				}
			}
			if m.service.Spec.Selector["app.kubernetes.io/instance"] != "gw1" || m.pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Fatal("service or PDB selector")
			}
			if !strings.Contains(errOut, "kubectl apply -f gw1.yaml") {
				t.Fatalf("stderr %q", errOut)
			}
		})
	}
}

// Strict decoding does reject a misplaced field: the check above can fail.
func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	var d appsv1.Deployment
	if err := decodeStrict("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 1\n  terminationGracePeriodSeconds: 30\n", &d); err == nil {
		t.Fatal("a pod field on the Deployment spec was accepted")
	}
}
