// Command check validates Lathe's deployment files where no Docker engine or cluster runs:
// docker-compose.yml loads against the Compose specification; the helm chart renders with each
// CI values file (validated by values.schema.json) and every manifest decodes strictly into its
// Kubernetes type, so an unknown or misspelt field fails; then the properties operators rely on
// (probes, non-root, GPUs, shared adapter store, autoscaling target) are checked.
//
//	go run ./deploy/check -root .
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	chartloader "helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
)

var failures []string

func fail(format string, args ...any) {
	failures = append(failures, fmt.Sprintf(format, args...))
}

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	checkCompose(*root)
	chart := filepath.Join(*root, "helm", "lathe")
	for _, values := range []string{"default-values.yaml", "multi-worker-values.yaml"} {
		checkChart(chart, filepath.Join(chart, "ci", values))
	}
	checkChartRefusesMissingDatabase(chart)
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintln(os.Stderr, "FAIL:", f)
		}
		os.Exit(1)
	}
	fmt.Println("deployment files: ok")
}

func loadCompose(root string, env map[string]string) (*types.Project, error) {
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: env,
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("lathe", true)
	})
}

func checkCompose(root string) {
	if _, err := loadCompose(root, map[string]string{}); err == nil {
		fail("docker-compose.yml: loads without LATHE_ADMIN_KEY; it must insist on one")
	}
	p, err := loadCompose(root, map[string]string{"LATHE_ADMIN_KEY": "lta-ci"})
	if err != nil {
		fail("docker-compose.yml: %v", err)
		return
	}
	roles := map[string]string{"api": "api", "worker": "worker"}
	for _, name := range []string{"postgres", "api", "worker"} {
		s, ok := p.Services[name]
		if !ok {
			fail("docker-compose.yml: no service %q", name)
			continue
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			fail("docker-compose.yml: service %q has no health check", name)
		}
		if role, ok := roles[name]; ok {
			if v := s.Environment["LATHE_ROLE"]; v == nil || *v != role {
				fail("docker-compose.yml: service %q must run LATHE_ROLE=%s", name, role)
			}
			if v := s.Environment["LATHE_ADMIN_KEY"]; v == nil || *v != "lta-ci" {
				fail("docker-compose.yml: service %q does not get LATHE_ADMIN_KEY", name)
			}
			mounted := false
			for _, v := range s.Volumes {
				mounted = mounted || (v.Source == "adapters" && v.Target == "/var/lib/lathe")
			}
			if !mounted {
				fail("docker-compose.yml: service %q does not mount the adapter store", name)
			}
			if d, ok := s.DependsOn["postgres"]; !ok || d.Condition != "service_healthy" {
				fail("docker-compose.yml: service %q must wait for a healthy postgres", name)
			}
		}
	}
}

func render(chartDir, valuesFile string) (map[string]string, error) {
	chart, err := chartloader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	values := chartutil.Values{}
	if valuesFile != "" {
		if values, err = chartutil.ReadValuesFile(valuesFile); err != nil {
			return nil, err
		}
	}
	opts := chartutil.ReleaseOptions{Name: "lathe", Namespace: "lathe", IsInstall: true}
	rv, err := chartutil.ToRenderValues(chart, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(chart, rv)
}

func checkChartRefusesMissingDatabase(chartDir string) {
	if _, err := render(chartDir, ""); err == nil || !strings.Contains(err.Error(), "database.url") {
		fail("helm: rendering without database.url or existingSecret must fail naming it, got %v", err)
	}
}

func checkChart(chartDir, valuesFile string) {
	name := filepath.Base(valuesFile)
	files, err := render(chartDir, valuesFile)
	if err != nil {
		fail("helm %s: %v", name, err)
		return
	}
	values, _ := chartutil.ReadValuesFile(valuesFile)
	decoder := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var objects []runtime.Object
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		if strings.HasSuffix(path, "NOTES.txt") || strings.HasSuffix(path, ".tpl") {
			continue
		}
		for _, doc := range strings.Split(files[path], "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue
			}
			obj, _, err := decoder.Decode([]byte(doc), nil, nil)
			if err != nil {
				fail("helm %s: %s: %v", name, path, err)
				continue
			}
			objects = append(objects, obj)
		}
	}
	checkObjects(name, values, objects)
	fmt.Printf("helm %s: %d manifests\n", name, len(objects))
}

func checkObjects(name string, values chartutil.Values, objects []runtime.Object) {
	deployments := map[string]*appsv1.Deployment{}
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	claims := map[string]bool{}
	for _, o := range objects {
		switch v := o.(type) {
		case *appsv1.Deployment:
			deployments[v.Labels["app.kubernetes.io/component"]] = v
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpa = v
		case *corev1.PersistentVolumeClaim:
			claims[v.Name] = true
		}
	}
	existingClaim, _ := values.PathValue("storage.existingClaim")
	for _, role := range []string{"api", "worker"} {
		d := deployments[role]
		if d == nil {
			fail("helm %s: no %s Deployment", name, role)
			continue
		}
		spec := d.Spec.Template.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			fail("helm %s: %s pods must run as non-root", name, role)
		}
		c := spec.Containers[0]
		if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.StartupProbe == nil {
			fail("helm %s: %s needs startup, liveness and readiness probes", name, role)
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path != "/actuator/health/readiness" {
			fail("helm %s: %s readiness probe must ask /actuator/health/readiness", name, role)
		}
		roleEnv := ""
		for _, e := range c.Env {
			if e.Name == "LATHE_ROLE" {
				roleEnv = e.Value
			}
		}
		if roleEnv != role {
			fail("helm %s: %s container runs LATHE_ROLE=%q", name, role, roleEnv)
		}
		if len(spec.Volumes) == 0 || spec.Volumes[0].PersistentVolumeClaim == nil {
			fail("helm %s: %s does not mount the adapter store", name, role)
		} else if claim := spec.Volumes[0].PersistentVolumeClaim.ClaimName; !claims[claim] && claim != existingClaim {
			fail("helm %s: %s mounts claim %q that the chart does not define", name, role, claim)
		}
	}
	if w := deployments["worker"]; w != nil {
		gpus, _ := values.PathValue("worker.gpus")
		want := gpus != nil && fmt.Sprint(gpus) != "0"
		if _, err := values.PathValue("worker.gpus"); err != nil {
			want = true // the chart's default is one GPU
		}
		limit, ok := w.Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
		if want && (!ok || limit.IsZero()) {
			fail("helm %s: worker must request nvidia.com/gpu", name)
		}
		if replicas, err := values.PathValue("worker.replicas"); err == nil && fmt.Sprint(*w.Spec.Replicas) != fmt.Sprint(replicas) {
			fail("helm %s: worker replicas %d, values say %v", name, *w.Spec.Replicas, replicas)
		}
		if sel, err := values.PathValue("worker.nodeSelector"); err == nil && len(sel.(map[string]any)) != len(w.Spec.Template.Spec.NodeSelector) {
			fail("helm %s: worker nodeSelector not applied", name)
		}
	}
	if hpa == nil {
		fail("helm %s: no HorizontalPodAutoscaler for the api", name)
	} else if api := deployments["api"]; api != nil && hpa.Spec.ScaleTargetRef.Name != api.Name {
		fail("helm %s: the autoscaler targets %q, not the api Deployment %q", name, hpa.Spec.ScaleTargetRef.Name, api.Name)
	}
}
