using System.Security.Cryptography.X509Certificates;

namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>
/// Where a member of the cluster (a silo or a client) finds its certificate, its key and the cluster's own CA.
/// </summary>
/// <param name="Certificate">PEM or PFX certificate file.</param>
/// <param name="Key">PEM key file; empty when the key is in <paramref name="Certificate"/>.</param>
/// <param name="Password">PFX password; empty for none.</param>
/// <param name="TrustedCa">PEM file of the cluster's CA certificate(s): the only issuers accepted.</param>
public sealed record CredentialFiles(string Certificate, string Key, string Password, string TrustedCa);

/// <summary>
/// A member's certificate and the cluster's CA, reloaded when their files change (a rotated Kubernetes Secret)
/// without a restart. Files are looked at no more often than every <see cref="RecheckInterval"/>; a replacement that
/// does not load is reported and the previous certificate stays in use.
/// </summary>
public sealed class ClusterCredentials
{
    /// <summary>How often the files are looked at for a change, at most.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(2);

    private readonly CredentialFiles files;
    private readonly Action<string> report;
    private readonly Lock gate = new();
    private X509Certificate2 certificate;
    private X509Certificate2Collection authorities;
    private string stamp;
    private DateTime checkedAt;

    /// <summary>Loads the files now: a problem is a <see cref="CertificateException"/> naming the file and
    /// why.</summary>
    /// <param name="files">The files.</param>
    /// <param name="what">What the certificate is for, in messages.</param>
    /// <param name="report">Told of every reload and of every replacement that did not load (for the log).</param>
    public ClusterCredentials(CredentialFiles files, string what, Action<string>? report = null)
    {
        this.files = files;
        What = what;
        this.report = report ?? (_ => { });
        (certificate, authorities) = Load();
        stamp = Stamp();
        checkedAt = DateTime.UtcNow;
        if (Trust.Problem(certificate) is { } problem) throw new CertificateException($"{what} {files.Certificate}: "
            + $"{problem}");
    }

    /// <summary>What the certificate is for, in messages ("the silo certificate").</summary>
    public string What { get; }

    /// <summary>The current certificate with its private key.</summary>
    public X509Certificate2 Certificate
    {
        get
        {
            Refresh();
            return certificate;
        }
    }

    /// <summary>The current trust: the cluster CA's certificates.</summary>
    public ClusterTrust Trust
    {
        get
        {
            Refresh();
            return new ClusterTrust(authorities);
        }
    }

    private void Refresh()
    {
        lock (gate)
        {
            if (DateTime.UtcNow - checkedAt < RecheckInterval) return;
            checkedAt = DateTime.UtcNow;
            var now = Stamp();
            if (now == stamp) return;
            try
            {
                var (c, a) = Load();
                (certificate, authorities, stamp) = (c, a, now);
                report($"reloaded {What} from {files.Certificate} (subject {c.Subject}, valid until "
                    + $"{c.NotAfter.ToUniversalTime():u})");
            }
            catch (CertificateException e)
            {
                // Half-written rotation: keep serving the old one, and say so once per change.
                stamp = now;
                report($"{What}: kept the previous certificate, the changed files do not load: {e.Message}");
            }
        }
    }

    private (X509Certificate2, X509Certificate2Collection) Load() =>
        (CertificateFiles.LoadWithKey(files.Certificate, files.Key, files.Password, What),
         CertificateFiles.LoadBundle(files.TrustedCa, "the trusted CA file"));

    private string Stamp() => CertificateFiles.Stamp(files.Certificate, files.Key, files.TrustedCa);
}

/// <summary>Checks a certificate against the cluster's own CA, never the system's trust store.</summary>
public sealed class ClusterTrust(X509Certificate2Collection authorities)
{
    /// <summary>The CA certificates.</summary>
    public X509Certificate2Collection Authorities { get; } = authorities;

    /// <summary>Null when <paramref name="certificate"/> is valid now and issued by the cluster's CA, else why
    /// not.</summary>
    /// <param name="certificate">The certificate presented.</param>
    /// <param name="presented">The chain the peer sent, for intermediate certificates (optional).</param>
    public string? Problem(X509Certificate2? certificate, X509Chain? presented = null)
    {
        if (certificate is null) return "no certificate was presented";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = DateTime.Now;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                var leaf = element.Certificate.RawData.AsSpan().SequenceEqual(certificate.RawData);
                if (!leaf) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        if (chain.Build(certificate)) return null;
        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        if (flags.HasFlag(X509ChainStatusFlags.NotTimeValid))
        {
            return certificate.NotAfter < DateTime.Now
                ? $"certificate {certificate.Subject} expired on {certificate.NotAfter.ToUniversalTime():u}"
                : $"certificate {certificate.Subject} is not valid before {certificate.NotBefore.ToUniversalTime():u}";
        }
        if (flags.HasFlag(X509ChainStatusFlags.UntrustedRoot) || flags.HasFlag(X509ChainStatusFlags.PartialChain))
        {
            return $"certificate {certificate.Subject} (issuer {certificate.Issuer}) is not signed by the cluster's CA";
        }
        return $"certificate {certificate.Subject} is not valid: {string.Join("; "
            + "", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))}";
    }
}
