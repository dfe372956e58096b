using System.ComponentModel.DataAnnotations;

namespace PruneFuse.Silo;

/// <summary>How the silo runs.</summary>
public enum SiloMode
{
    /// <summary>One machine: localhost clustering, artifacts and grain state in a local folder.</summary>
    Embedded,
    /// <summary>Several silos: Azure Table clustering, Azure Blob artifacts and grain state, Azure Table reminders.</summary>
    Cluster,
}

/// <summary>Configuration section <c>PruneFuse</c> (environment: <c>PruneFuse__Mode</c>, <c>PruneFuse__Storage__ConnectionString</c>, …).</summary>
public sealed class SiloOptions : IValidatableObject
{
    /// <summary>Embedded (default) or Cluster.</summary>
    public SiloMode Mode { get; set; } = SiloMode.Embedded;

    /// <summary>Embedded mode's folder for artifacts and grain state.</summary>
    public string DataRoot { get; set; } = ".data/embedded";

    /// <summary>Orleans cluster id.</summary>
    [Required, RegularExpression("^[a-z0-9-]{1,40}$")]
    public string ClusterId { get; set; } = "prunefuse";

    /// <summary>Orleans service id.</summary>
    [Required, RegularExpression("^[a-z0-9-]{1,40}$")]
    public string ServiceId { get; set; } = "prunefuse";

    /// <summary>Silo-to-silo port.</summary>
    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port.</summary>
    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// Port the gateway listens on when it differs from the <see cref="GatewayPort"/> clients are told to use
    /// (behind a port-mapping proxy or NAT, cluster mode); 0 (default) = the gateway port.
    /// </summary>
    [Range(0, 65535)]
    public int GatewayListenPort { get; set; }

    /// <summary>Address other silos reach this one at (cluster mode); loopback by default.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>cpu, gpu, or auto (gpu when CUDA is available). Published as silo metadata <c>accelerator</c>.</summary>
    [RegularExpression("^(cpu|gpu|auto)$")]
    public string Accelerator { get; set; } = "auto";

    /// <summary>Megabytes of pool shards this silo keeps in memory; larger pools are streamed from storage when scored (0 = always stream).</summary>
    [Range(0, 1_048_576)]
    public int ShardCacheMegabytes { get; set; } = 1024;

    /// <summary>
    /// Seconds the silo gets on SIGTERM to stop its running work (torch jobs stop within a batch), hand its grains
    /// over and leave the cluster. A stop normally takes a few seconds; this is the upper bound.
    /// </summary>
    [Range(1, 3600)]
    public int ShutdownSeconds { get; set; } = 60;

    /// <summary>Share of this silo's memory one experiment's estimated training step may need; larger specs are refused at start.</summary>
    [Range(0.01, 1.0)]
    public double MaxSpecMemoryShare { get; set; } = 0.5;

    /// <summary>Seconds a starting silo may take to reach its storage and join the cluster before it exits with an error.</summary>
    [Range(5, 600)]
    public int StartupSeconds { get; set; } = 50;

    /// <summary>Azure Storage settings (cluster mode).</summary>
    public StorageOptions Storage { get; set; } = new();

    /// <summary>How this silo scores pool shards.</summary>
    public ScoringOptions Scoring { get; set; } = new();

    /// <summary>How much scoring work this silo takes at once.</summary>
    public ComputeSection Compute { get; set; } = new();

    /// <summary>Who may use the dashboard and other HTTP endpoints.</summary>
    public HttpOptions Http { get; set; } = new();

    /// <summary>Mutual TLS and roles (cluster mode).</summary>
    public SecurityOptions Security { get; set; } = new();

    /// <summary>Every configuration problem (data annotations, nested storage options and cross-field rules), as messages.</summary>
    public List<string> Problems()
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(this, new ValidationContext(this), results, validateAllProperties: true);
        Validator.TryValidateObject(Storage, new ValidationContext(Storage), results, validateAllProperties: true);
        Validator.TryValidateObject(Http, new ValidationContext(Http), results, validateAllProperties: true);
        // Nested sections name their members under the section's key.
        void Section(object section, string key)
        {
            var found = new List<ValidationResult>();
            Validator.TryValidateObject(section, new ValidationContext(section), found, validateAllProperties: true);
            results.AddRange(found.Select(r =>
                new ValidationResult(r.ErrorMessage, [.. r.MemberNames.Select(m => key + ":" + m)])));
        }
        Section(Security, "Security");
        Section(Scoring, "Scoring");
        Section(Compute, "Compute");
        return [.. results.Select(r => $"{string.Join(", ", r.MemberNames.Select(m => "PruneFuse:" + m))}: {r.ErrorMessage}")];
    }

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode == SiloMode.Cluster && string.IsNullOrWhiteSpace(Storage.ConnectionString))
        {
            yield return new ValidationResult("cluster mode needs PruneFuse:Storage:ConnectionString (environment PruneFuse__Storage__ConnectionString)", [nameof(Storage)]);
        }
        if (!System.Net.IPAddress.TryParse(AdvertisedAddress, out _))
        {
            yield return new ValidationResult($"advertised address '{AdvertisedAddress}' is not an IP address", [nameof(AdvertisedAddress)]);
        }
        if (Mode == SiloMode.Cluster && string.IsNullOrEmpty(Http.Password) && !Http.AllowAnonymous)
        {
            yield return new ValidationResult("cluster mode serves the dashboard beyond this machine: set PruneFuse:Http:Password (environment PruneFuse__Http__Password), or PruneFuse:Http:AllowAnonymous=true to serve it without authentication", [nameof(Http)]);
        }
        if (Compute.Slots > 1 && Scoring.Engine == "torch")
        {
            yield return new ValidationResult($"the torch engine scores on the silo's one compute thread, so PruneFuse:Compute:Slots must be 1 with it (got {Compute.Slots}); use PruneFuse:Scoring:Engine=onnx for more slots", ["Compute:Slots"]);
        }
        if (Mode == SiloMode.Cluster && Security.Enabled)
        {
            foreach (var (key, value) in new[] { ("Certificate", Security.Certificate), ("TrustedCa",
                Security.TrustedCa) })
            {
                if (string.IsNullOrWhiteSpace(value))
                {
                    yield return new ValidationResult($"cluster mode uses mutual TLS: set PruneFuse:Security:{key} "
                        + $"(environment PruneFuse__Security__{key}); `prunefuse cluster certs create --out DIR` "
                        + $"makes a CA and certificates for a test cluster, or set PruneFuse:Security:Enabled=false "
                        + $"to run unprotected", ["Security:" + key]);
                }
            }
        }
        if (!string.IsNullOrEmpty(Http.ViewerPassword) && Http.ViewerUsername == Http.Username)
        {
            yield return new ValidationResult($"the viewer user name '{Http.ViewerUsername}' is the admin's: choose "
                + $"another PruneFuse:Http:ViewerUsername", ["Http:ViewerUsername"]);
        }
        if (Mode == SiloMode.Embedded && string.IsNullOrWhiteSpace(DataRoot))
        {
            yield return new ValidationResult("embedded mode needs PruneFuse:DataRoot", [nameof(DataRoot)]);
        }
    }
}

/// <summary>
/// HTTP Basic authentication for the dashboard and every HTTP endpoint except the health probes
/// (<c>/health/live</c>, <c>/health/ready</c>, which answer only Healthy or Unhealthy). Required in cluster mode;
/// in embedded mode it applies when a password is set.
/// </summary>
public sealed class HttpOptions
{
    /// <summary>User name.</summary>
    [Required, RegularExpression("^[^:]{1,64}$")]
    public string Username { get; set; } = "prunefuse";

    /// <summary>Password; never logged.</summary>
    public string Password { get; set; } = "";

    /// <summary>Serve without authentication in cluster mode (behind your own authenticating proxy, say).</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>A second, read-only user (GET requests only); its password empty (default) = no such user.</summary>
    [Required, RegularExpression("^[^:]{1,64}$")]
    public string ViewerUsername { get; set; } = "viewer";

    /// <summary>The viewer's password; never logged.</summary>
    public string ViewerPassword { get; set; } = "";

    /// <summary>HTTPS certificate (PEM or PFX) in cluster mode; empty (default) = the silo's
    /// (PruneFuse:Security:Certificate).</summary>
    public string Certificate { get; set; } = "";

    /// <summary>PEM key of <see cref="Certificate"/> when it is not in the same file.</summary>
    public string Key { get; set; } = "";

    /// <summary>PFX password of <see cref="Certificate"/>; never logged.</summary>
    public string CertificatePassword { get; set; } = "";

    /// <summary>Whether requests must authenticate.</summary>
    public bool Required => !string.IsNullOrEmpty(Password);
}

/// <summary>
/// Section <c>PruneFuse:Security</c>: mutual TLS between silos and clients with the cluster's own CA, and who is a
/// viewer. On by default in cluster mode; embedded mode listens on loopback only and uses none of it.
/// </summary>
public sealed class SecurityOptions : IValidatableObject
{
    /// <summary>Mutual TLS and roles in cluster mode (true). False runs the cluster unprotected: anyone who reaches a
    /// port can do anything.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>This silo's certificate: PEM (with its key inside or in <see cref="Key"/>) or PFX.</summary>
    public string Certificate { get; set; } = "";

    /// <summary>PEM private key file of <see cref="Certificate"/>, when not in the same file.</summary>
    public string Key { get; set; } = "";

    /// <summary>PFX password; never logged.</summary>
    public string Password { get; set; } = "";

    /// <summary>PEM file of the cluster's CA: the only issuer whose silo and client certificates are
    /// accepted.</summary>
    public string TrustedCa { get; set; } = "";

    /// <summary>
    /// Certificates with the viewer role (read only), by subject component or alternative name: <c>OU=viewer</c>,
    /// <c>CN=ci-*</c>, <c>DNS:*.ci.example</c>, <c>IP:10.0.0.7</c>. Empty (default) = <c>OU=viewer</c>. Every other
    /// certificate the CA issued is an admin.
    /// </summary>
    public string[] ViewerRules { get; set; } = [];

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var rule in ViewerRules)
        {
            if (PruneFuse.Grains.Interfaces.Security.ClusterRoles.Problem(rule) is { } problem)
            {
                yield return new ValidationResult(problem, [nameof(ViewerRules)]);
            }
        }
    }
}

/// <summary>Section <c>PruneFuse:Scoring</c>: the engine pool shards are scored with on this silo.</summary>
public sealed class ScoringOptions
{
    /// <summary>
    /// <c>onnx</c> (default: ONNX Runtime, the faster engine in BENCHMARKS.md) or <c>torch</c> (libtorch, as
    /// training). Both give the same scores to float rounding (tested within 1e-4).
    /// </summary>
    [RegularExpression("^(onnx|torch)$", ErrorMessage = "must be onnx or torch")]
    public string Engine { get; set; } = "onnx";

    /// <summary>ONNX engine threads per compute slot; 0 (default) = as many as libtorch uses on this silo.</summary>
    [Range(0, 1024)]
    public int Threads { get; set; }

    /// <summary>
    /// Most samples in one work unit of the rounds this silo coordinates (8192): shards are cut into units no larger,
    /// so a round spreads over every compute silo and a slow silo takes fewer units.
    /// </summary>
    [Range(256, 16_000_000)]
    public int UnitSamples { get; set; } = Grains.Compute.ComputeOptions.DefaultUnitSamples;
}

/// <summary>Section <c>PruneFuse:Compute</c>: how much scoring work this silo takes at once.</summary>
public sealed class ComputeSection
{
    /// <summary>Work units scored at once (1); each ONNX slot uses PruneFuse:Scoring:Threads threads.</summary>
    [Range(1, 64)]
    public int Slots { get; set; } = 1;

    /// <summary>libtorch threads (training, and scoring on the torch engine); 0 (default) = libtorch's own choice.</summary>
    [Range(0, 1024)]
    public int TorchThreads { get; set; }
}

/// <summary>Azure Storage (or Azurite) connection.</summary>
public sealed class StorageOptions
{
    /// <summary>Connection string; never logged.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Blob container for artifacts.</summary>
    [RegularExpression("^[a-z0-9-]{3,63}$")]
    public string Container { get; set; } = "prunefuse";
}
