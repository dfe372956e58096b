using System.Diagnostics;
using System.Text.Json.Nodes;
using PruneFuse.Tests.Shared;
using YamlDotNet.RepresentationModel;

namespace PruneFuse.Deploy.Tests;

/// <summary>
/// deploy/k8s renders with `kubectl kustomize` and every object validates offline against the Kubernetes API
/// schemas (deploy/k8s/validate.mjs); the rendered overlays say what deploy/README.md promises.
/// kubectl and the schema packages are installed by scripts/test.sh; when missing, these tests fail saying so.
/// </summary>
public sealed class ManifestTests
{
    private static readonly string Root = BuildOutput.RepoRoot;

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public async Task Overlay_renders_and_validates_against_the_api_schemas(string overlay)
    {
        var yaml = await RenderAsync(overlay);
        var validation = await ValidateAsync(yaml);
        Assert.True(validation.ExitCode == 0, validation.Stderr);
        Assert.Matches(@"^\d+ objects valid", validation.Stdout.Trim());
    }

    [Fact]
    public async Task Silo_deployments_carry_probes_shutdown_and_gpu_scheduling()
    {
        var objects = Parse(await RenderAsync("prod"));
        var cpu = Single(objects, "Deployment", "prunefuse-silo-cpu");
        var gpu = Single(objects, "Deployment", "prunefuse-silo-gpu");
        var config = Single(objects, "ConfigMap", "prunefuse-silo");
        Assert.Equal("Cluster", (string?)config["data"]!["PruneFuse__Mode"]);
        var shutdown = int.Parse((string)config["data"]!["PruneFuse__ShutdownSeconds"]!);

        foreach (var (deployment, accelerator) in new[] { (cpu, "cpu"), (gpu, "gpu") })
        {
            Assert.Equal("prunefuse", (string?)deployment["metadata"]!["namespace"]);
            var pod = deployment["spec"]!["template"]!["spec"]!;
            Assert.True(int.Parse((string)pod["terminationGracePeriodSeconds"]!) > shutdown, "Kubernetes must wait longer than Orleans' shutdown");
            var silo = pod["containers"]!.AsArray().Single()!;
            Assert.Equal("/health/live", (string?)silo["livenessProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/health/ready", (string?)silo["readinessProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/health/live", (string?)silo["startupProbe"]!["httpGet"]!["path"]);
            var env = silo["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => e!);
            Assert.Equal(accelerator, (string?)env["PruneFuse__Accelerator"]["value"]);
            Assert.Equal("status.podIP", (string?)env["PruneFuse__AdvertisedAddress"]["valueFrom"]!["fieldRef"]!["fieldPath"]);
            // Secrets come from Secret objects, never from literals in the manifests.
            Assert.Equal("prunefuse-storage", (string?)env["PruneFuse__Storage__ConnectionString"]["valueFrom"]!["secretKeyRef"]!["name"]);
            Assert.Equal("prunefuse-http", (string?)env["PruneFuse__Http__Password"]["valueFrom"]!["secretKeyRef"]!["name"]);
            Assert.StartsWith($"registry.example.com/prunefuse/silo-{accelerator}:", (string?)silo["image"]);
            // Mutual TLS: the silo certificate comes from a Secret, mounted read-only where the ConfigMap points.
            var mount = silo["volumeMounts"]!.AsArray().Single(m => (string?)m!["name"] == "tls")!;
            Assert.Equal("/etc/prunefuse/tls", (string?)mount["mountPath"]);
            Assert.Equal("true", (string?)mount["readOnly"]);
            var volume = pod["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "tls")!;
            Assert.Equal("prunefuse-silo-tls", (string?)volume["secret"]!["secretName"]);
            foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" }) Assert.Equal("HTTPS",
                (string?)silo[probe]!["httpGet"]!["scheme"]);
        }
        foreach (var key in new[] { "Certificate", "Key", "TrustedCa" }) Assert.StartsWith("/etc/prunefuse/tls/",
            (string?)config["data"]![$"PruneFuse__Security__{key}"]);
        Assert.StartsWith("https://", (string?)config["data"]!["Urls"]);

        var gpuPod = gpu["spec"]!["template"]!["spec"]!;
        Assert.Equal("1", (string?)gpuPod["containers"]![0]!["resources"]!["limits"]!["nvidia.com/gpu"]);
        Assert.Equal("true", (string?)gpuPod["nodeSelector"]!["nvidia.com/gpu.present"]);
        Assert.Contains(gpuPod["tolerations"]!.AsArray(), t => (string?)t!["key"] == "nvidia.com/gpu");
        Assert.Null(cpu["spec"]!["template"]!["spec"]!["containers"]![0]!["resources"]!["limits"]!["nvidia.com/gpu"]);

        Assert.Equal(2, objects.Count(o => (string?)o["kind"] == "PodDisruptionBudget"));
        Assert.Equal("30000", (string?)Single(objects, "Service", "prunefuse-gateway")["spec"]!["ports"]![0]!["port"]);
        Assert.NotNull(Single(objects, "Service", "prunefuse-dashboard"));
        // Production brings its own storage account and secrets.
        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "Secret");
        Assert.DoesNotContain(objects, o => (string?)o["metadata"]!["name"] == "azurite");
    }

    [Fact]
    public async Task Dev_overlay_runs_azurite_in_the_cluster()
    {
        var objects = Parse(await RenderAsync("dev"));
        Assert.All(objects.Where(o => (string?)o["kind"] != "Namespace"), o => Assert.Equal("prunefuse-dev", (string?)o["metadata"]!["namespace"]));
        var azurite = Single(objects, "Deployment", "azurite");
        Assert.StartsWith("mcr.microsoft.com/azure-storage/azurite:", (string?)azurite["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]);
        Assert.NotNull(Single(objects, "Service", "azurite"));
        var storage = Single(objects, "Secret", "prunefuse-storage");
        var connection = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(((string)storage["data"]!["connection-string"]!).Replace("\n", "", StringComparison.Ordinal)));
        Assert.Contains("BlobEndpoint=http://azurite:10000/", connection);
        Assert.Contains("TableEndpoint=http://azurite:10002/", connection);
        Assert.NotNull(Single(objects, "Secret", "prunefuse-http"));
        Assert.Equal("0", (string?)Single(objects, "Deployment", "prunefuse-silo-gpu")["spec"]!["replicas"]);
    }

    [Fact]
    public async Task Client_job_example_validates()
    {
        var text = await File.ReadAllTextAsync(Path.Combine(Root, "deploy/k8s/examples/client-job.yaml"));
        var validation = await ValidateAsync(text);
        Assert.True(validation.ExitCode == 0, validation.Stderr);
        var pod = Parse(text).Single()["spec"]!["template"]!;
        Assert.Equal("true", (string?)pod["metadata"]!["labels"]!["prunefuse.io/client"]);
        var env = pod["spec"]!["containers"]![0]!["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e
            => (string?)e!["value"]);
        Assert.Equal("/etc/prunefuse/tls/ca.crt", env["PRUNEFUSE_CA"]);
        Assert.Equal("prunefuse-client-tls", (string?)pod["spec"]!["volumes"]![0]!["secret"]!["secretName"]);
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("prod")]
    public async Task Network_policy_admits_silos_to_the_silo_port_and_labelled_clients_to_the_gateway(string overlay)
    {
        var policy = Single(Parse(await RenderAsync(overlay)), "NetworkPolicy", "prunefuse-silo");
        Assert.Equal("prunefuse-silo",
            (string?)policy["spec"]!["podSelector"]!["matchLabels"]!["app.kubernetes.io/name"]);
        Assert.Equal(["Ingress"], policy["spec"]!["policyTypes"]!.AsArray().Select(t => (string?)t));
        var rules = policy["spec"]!["ingress"]!.AsArray().ToList();
        Assert.Equal(2, rules.Count);
        static List<string?> Ports(JsonNode rule) => [.. rule["ports"]!.AsArray().Select(x => (string?)x!["port"])];
        Assert.Equal(["silo"], Ports(rules[0]!));
        Assert.Equal("prunefuse-silo",
            (string?)rules[0]!["from"]!.AsArray().Single()!["podSelector"]!["matchLabels"]!["app.kubernetes.io/name"]);
        Assert.Equal(["gateway", "http"], Ports(rules[1]!));
        // Clients are selected by expression, so kustomize's common labels are not required of them.
        Assert.All(rules[1]!["from"]!.AsArray(), peer =>
        {
            var client = peer!["podSelector"]!;
            Assert.Null(client["matchLabels"]);
            var expression = client["matchExpressions"]!.AsArray().Single()!;
            Assert.Equal("prunefuse.io/client", (string?)expression["key"]);
            Assert.Equal("In", (string?)expression["operator"]);
            Assert.Equal(["true"], expression["values"]!.AsArray().Select(v => (string?)v));
        });
    }

    [Theory]
    [InlineData("runAsNonRoot: true", "runAsNonRoot: false", "may run as root")]
    [InlineData("runAsUser: 1654", "runAsUser: 0", "runs as root (runAsUser: 0)")]
    [InlineData("readOnly: true", "readOnly: false", "mounts Secret volume tls writable")]
    [InlineData("kind: NetworkPolicy", "kind: ConfigMap", "no NetworkPolicy selects the silo pods")]
    public async Task Validator_rejects_root_containers_writable_secrets_and_unguarded_silos(string good, string bad,
        string expected)
    {
        var yaml = await RenderAsync("prod");
        Assert.Contains(good, yaml);
        var validation = await ValidateAsync(yaml.Replace(good, bad, StringComparison.Ordinal));
        Assert.Equal(1, validation.ExitCode);
        Assert.Contains(expected, validation.Stderr);
    }

    [Theory]
    [InlineData("replicas: 1", "replica: 1", "unknown field 'replica'")]
    [InlineData("periodSeconds: 5", "periodSeconds: five", "periodSeconds must be integer")]
    [InlineData("imagePullPolicy: IfNotPresent", "imagePullPolicy: Sometimes", "imagePullPolicy must be equal to one of the allowed values")]
    [InlineData("kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "no schema for policy/v1 PodDisruptionBudgett")]
    public async Task Validator_rejects_a_broken_manifest_naming_the_field(string good, string bad, string expected)
    {
        var yaml = await RenderAsync("dev");
        Assert.Contains(good, yaml);
        var validation = await ValidateAsync(yaml.Replace(good, bad, StringComparison.Ordinal));
        Assert.Equal(1, validation.ExitCode);
        Assert.Contains(expected, validation.Stderr);
    }

    [Fact]
    public async Task Validator_rejects_a_deployment_without_containers()
    {
        const string yaml = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: empty
            spec:
              selector:
                matchLabels: {app: x}
              template:
                metadata:
                  labels: {app: x}
                spec: {}
            """;
        var validation = await ValidateAsync(yaml);
        Assert.Equal(1, validation.ExitCode);
        Assert.Contains("Deployment/empty", validation.Stderr);
        Assert.Contains("containers", validation.Stderr);
    }

    [Theory]
    [InlineData("cpu.Dockerfile", "")]
    [InlineData("gpu.Dockerfile", "-p:TorchBackend=${TORCH_BACKEND} -p:OnnxBackend=cuda")]
    public void Dockerfiles_publish_the_silo_and_console_projects(string file, string backend)
    {
        // The engine is not on this machine (deploy/README.md), so check what the build would publish exists.
        var text = File.ReadAllText(Path.Combine(Root, "deploy/docker", file));
        foreach (var project in new[] { "src/Silo/PruneFuse.Silo.csproj", "src/Client/PruneFuse.Client.csproj" })
        {
            Assert.Contains($"dotnet publish {project}", text);
            Assert.True(File.Exists(Path.Combine(Root, project)), project);
        }
        Assert.Contains(backend, text);
        // ONNX Runtime's CUDA provider needs the CUDA 13 runtime and cuDNN 9 in the image, not only the driver.
        if (file.StartsWith("gpu", StringComparison.Ordinal)) Assert.Contains("FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04", text);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/silo/prunefuse-silo.dll\"]", text);
        Assert.Contains("USER app", text);
    }

    private static async Task<string> RenderAsync(string overlay)
    {
        var kubectl = Which("kubectl") ?? throw new InvalidOperationException("kubectl is not installed: run `bash scripts/test.sh` (it installs Debian's kubernetes-client) or `apt-get install kubernetes-client`");
        var run = await RunAsync(kubectl, null, "kustomize", Path.Combine(Root, "deploy/k8s/overlays", overlay));
        Assert.True(run.ExitCode == 0, $"kubectl kustomize {overlay} failed: {run.Stderr}");
        return run.Stdout;
    }

    private static async Task<Result> ValidateAsync(string yaml)
    {
        var node = Which("node") ?? throw new InvalidOperationException("node is not installed: run `bash scripts/test.sh` (it installs Debian's nodejs)");
        var run = await RunAsync(node, yaml, Path.Combine(Root, "deploy/k8s/validate.mjs"));
        Assert.True(run.ExitCode is 0 or 1, $"validate.mjs could not run (exit {run.ExitCode}): {run.Stderr}");
        return run;
    }

    private static List<JsonNode> Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return [.. stream.Documents.Select(d => ToJson(d.RootNode)!)];
    }

    // Scalars stay strings: the assertions compare what the manifest says, not a guess at its type.
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, ToJson(c.Value)))),
        YamlSequenceNode s => new JsonArray([.. s.Children.Select(ToJson)]),
        YamlScalarNode v => JsonValue.Create(v.Value),
        _ => null,
    };

    private static JsonNode Single(List<JsonNode> objects, string kind, string name) =>
        objects.SingleOrDefault(o => (string?)o["kind"] == kind && (string?)o["metadata"]!["name"] == name)
        ?? throw new InvalidOperationException($"{kind}/{name} is not in the rendered manifests");

    private sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static async Task<Result> RunAsync(string program, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
}
