using System.Text.RegularExpressions;

namespace PruneFuse.Silo;

/// <summary>The silo's <c>--help</c> text and readable configuration errors.</summary>
internal static partial class Usage
{
    /// <summary>True when the arguments ask for help instead of a silo.</summary>
    public static bool Requested(string[] args) => args.Any(a => a is "--help" or "-h" or "-?" or "help");

    /// <summary>What can be set, and how.</summary>
    public const string Text = """
        prunefuse-silo: hosts PruneFuse's grains, the Orleans dashboard and /health.

        Every setting is a configuration key, given as --Key=value, as an environment variable (':' becomes '__',
        e.g. PruneFuse__Mode=Cluster) or in appsettings.json next to the binary:

          PruneFuse:Mode                        Embedded (default: one machine, local folder) or Cluster (Azure Storage)
          PruneFuse:DataRoot                    embedded mode's folder for artifacts and grain state (.data/embedded)
          PruneFuse:GatewayPort                 port clients connect to (30000)
          PruneFuse:SiloPort                    silo-to-silo port (11111)
          PruneFuse:GatewayListenPort           port the gateway binds, behind a port-mapping proxy (0 = GatewayPort)
          PruneFuse:AdvertisedAddress           address other silos reach this one at (cluster mode; 127.0.0.1)
          PruneFuse:Storage:ConnectionString    Azure Storage or Azurite (cluster mode; never logged)
          PruneFuse:Storage:Container           blob container for artifacts (prunefuse)
          PruneFuse:Http:Password               dashboard and HTTP password (cluster mode needs one, or
          PruneFuse:Http:AllowAnonymous=true      behind your own authenticating proxy)
          PruneFuse:Http:ViewerPassword         password of a read-only web user (PruneFuse:Http:ViewerUsername, viewer)
          PruneFuse:Http:Certificate, :Key      HTTPS certificate in cluster mode (default: the silo certificate)
          PruneFuse:Security:Enabled            mutual TLS and roles in cluster mode (true)
          PruneFuse:Security:Certificate        this silo's certificate, PEM or PFX (cluster mode needs one)
          PruneFuse:Security:Key                its PEM key, when not in the certificate file (PFX: :Password)
          PruneFuse:Security:TrustedCa          the cluster's CA (PEM): the only issuer accepted
          PruneFuse:Security:ViewerRules:0      certificates with the read-only role (OU=viewer)
          PruneFuse:Accelerator                 auto (default), cpu or gpu: where pool shards, selectors and fusion go
          PruneFuse:ShardCacheMegabytes         pool shards kept in memory before scoring streams them (1024)
          PruneFuse:Scoring:Engine              onnx (default: ONNX Runtime, CUDA on gpu silos of GPU builds) or torch
          PruneFuse:Scoring:Threads             ONNX scoring threads per compute slot (0 = as many as libtorch uses here)
          PruneFuse:Scoring:UnitSamples         most samples per work unit in rounds this silo coordinates (8192)
          PruneFuse:Compute:Slots               work units this silo scores at once (1; onnx engine only above 1)
          PruneFuse:Compute:TorchThreads        libtorch threads for training and torch-engine scoring (0 = libtorch's choice)
          PruneFuse:MaxSpecMemoryShare          share of memory one experiment's training step may need (0.5)
          PruneFuse:StartupSeconds              time to reach storage and join the cluster before exiting 1 (50)
          PruneFuse:ShutdownSeconds             time a stop may take before the process ends itself (60)
          Urls                                  dashboard address (http://127.0.0.1:8080; embedded mode: loopback only;
                                                  cluster mode with TLS: https:// beyond loopback)

        The Orleans dashboard is at <Urls>/dashboard and PruneFuse's experiments page at <Urls>/prunefuse;
        GET /health/ready answers 200 once the silo serves clients. Ports already in use are refused at start (exit 2).
        `prunefuse cluster certs create --out DIR` writes a CA and certificates for a test cluster.
        """;

    /// <summary>
    /// The configuration binder's conversion error in the user's words: the key, the value, and what it accepts
    /// (the allowed names of an enum) instead of a .NET type name.
    /// </summary>
    public static string ConversionError(InvalidOperationException e)
    {
        var m = BinderMessage().Match(e.Message);
        if (!m.Success) return e.Message;
        var (value, key, typeName) = (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value);
        var type = typeof(Usage).Assembly.GetType(typeName) ?? Type.GetType(typeName);
        var expected = type switch
        {
            { IsEnum: true } => "one of " + string.Join(", ", Enum.GetNames(type)),
            _ when type == typeof(int) => "a whole number",
            _ when type == typeof(double) => "a number",
            _ when type == typeof(bool) => "true or false",
            _ => $"a {type?.Name ?? typeName}",
        };
        return $"'{value}' at '{key}' is not {expected}";
    }

    [GeneratedRegex("value '(.*)' at '(.*)' to type '([^']*)'")]
    private static partial Regex BinderMessage();
}
