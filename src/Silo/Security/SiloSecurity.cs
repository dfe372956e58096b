using Microsoft.AspNetCore.Server.Kestrel.Core;
using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Silo.Security;

/// <summary>
/// Cluster mode's protection (docs/architecture.md, "Security"): mutual TLS on the silo and gateway ports with the
/// cluster's own CA, HTTPS for the web host, and a per-call identity whose role decides what the call may do.
/// </summary>
public sealed class SiloSecurity
{
    private readonly List<string> early = [];
    private ILogger? logger;

    private SiloSecurity(SecurityOptions options, HttpOptions http)
    {
        Roles = new ClusterRoles(options.ViewerRules.Length > 0 ? options.ViewerRules
            : [ClusterRoles.DefaultViewerRule]);
        Credentials = new ClusterCredentials(new CredentialFiles(options.Certificate, options.Key, options.Password,
            options.TrustedCa),
            "the silo certificate (PruneFuse:Security:Certificate)", Report);
        Web = string.IsNullOrEmpty(http.Certificate)
            ? Credentials
            : new ClusterCredentials(new CredentialFiles(http.Certificate, http.Key, http.CertificatePassword,
                options.TrustedCa),
                "the HTTPS certificate (PruneFuse:Http:Certificate)", Report);
    }

    /// <summary>This silo's certificate and the cluster's CA.</summary>
    public ClusterCredentials Credentials { get; }

    /// <summary>The web host's certificate (the silo's unless PruneFuse:Http:Certificate is set).</summary>
    public ClusterCredentials Web { get; }

    /// <summary>Which certificates are viewers.</summary>
    public ClusterRoles Roles { get; }

    /// <summary>
    /// The security of a silo run with <paramref name="options"/>: null in embedded mode (loopback only) or when
    /// disabled; a <see cref="CertificateException"/> names a file that is missing, unreadable, expired or not issued
    /// by the trusted CA.
    /// </summary>
    public static SiloSecurity? For(SiloOptions options) =>
        options.Mode == SiloMode.Cluster && options.Security.Enabled ? new SiloSecurity(options.Security, options.Http)
            : null;

    /// <summary>Mutual TLS on every Orleans connection, and the call signing and role check filters.</summary>
    public void Configure(ISiloBuilder silo)
    {
        silo.UseTls(tls => ClusterTls.Apply(tls, Credentials, Report));
        silo.Services.AddSingleton(this);
        silo.AddOutgoingGrainCallFilter(new CallSigningFilter(Credentials));
        silo.AddIncomingGrainCallFilter<RoleCheckFilter>();
    }

    /// <summary>HTTPS for every Kestrel endpoint with the web certificate, reloaded like the silo's.</summary>
    public void Configure(KestrelServerOptions kestrel) =>
        kestrel.ConfigureHttpsDefaults(https => https.ServerCertificateSelector = (_, _) => Web.Certificate);

    /// <summary>Sends what was reported before the host had a logger, and everything after, to <paramref
    /// name="log"/>.</summary>
    public void UseLogger(ILogger log)
    {
        lock (early)
        {
            logger = log;
            foreach (var line in early) log.LogWarning("{Security}", line);
            early.Clear();
        }
    }

    private void Report(string line)
    {
        lock (early)
        {
            if (logger is null) early.Add(line);
            else logger.LogWarning("{Security}", line);
        }
    }
}
