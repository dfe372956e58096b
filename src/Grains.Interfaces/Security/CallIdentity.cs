using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>
/// Who made a grain call, proven per call. Mutual TLS authenticates a connection, but Orleans does not tell a grain
/// which connection a call came over, so each caller (console or silo) adds its certificate and a signature, made
/// with its private key, over the time, the target grain and the method; the silo checks both before the call runs
/// (docs/architecture.md, "Security"). Connections are TLS, so no one outside the cluster sees a signature to
/// replay.
/// </summary>
public static class CallIdentity
{
    /// <summary>Request-context key of the caller's certificate (DER).</summary>
    public const string CertificateKey = "prunefuse.caller-certificate";

    /// <summary>Request-context key of the signature.</summary>
    public const string SignatureKey = "prunefuse.caller-signature";

    /// <summary>Request-context key of the signing time (Unix milliseconds).</summary>
    public const string TimeKey = "prunefuse.caller-time";

    /// <summary>How far a call's signing time may be from the checking silo's clock.</summary>
    public static readonly TimeSpan ClockTolerance = TimeSpan.FromMinutes(10);

    /// <summary>Signs a call from the current certificate of <paramref name="credentials"/>.</summary>
    public static void Attach(ClusterCredentials credentials, string target, string method)
    {
        var certificate = credentials.Certificate;
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var payload = Payload(time, target, method);
        byte[] signature;
        using (var ecdsa = certificate.GetECDsaPrivateKey())
        using (var rsa = ecdsa is null ? certificate.GetRSAPrivateKey() : null)
        {
            signature = ecdsa?.SignData(payload, HashAlgorithmName.SHA256)
                ?? rsa?.SignData(payload, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
                ?? throw new CertificateException($"{credentials.What} has neither an ECDSA nor an RSA private key");
        }
        RequestContext.Set(CertificateKey, certificate.RawData);
        RequestContext.Set(SignatureKey, signature);
        RequestContext.Set(TimeKey, time);
    }

    /// <summary>
    /// The caller's certificate when the current request context carries a valid signature for this call by a
    /// certificate the cluster's CA issued; else a <see cref="CallIdentityException"/> saying what is wrong.
    /// </summary>
    public static X509Certificate2 Verify(ClusterTrust trust, string target, string method, TrustCache cache)
    {
        if (RequestContext.Get(CertificateKey) is not byte[] raw
            || RequestContext.Get(SignatureKey) is not byte[] signature
            || RequestContext.Get(TimeKey) is not long time)
        {
            throw new CallIdentityException("the call carries no caller certificate (connect with a PruneFuse client "
                + "given a certificate of this cluster)");
        }
        var age = DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeMilliseconds(time);
        if (age.Duration() > ClockTolerance)
        {
            throw new CallIdentityException($"the call was signed {age.TotalMinutes:F0} min from this silo's clock "
                + $"(more than {ClockTolerance.TotalMinutes:F0} min): check the clocks");
        }
        var certificate = cache.Check(trust, raw);
        var payload = Payload(time, target, method);
        using var ecdsa = certificate.GetECDsaPublicKey();
        using var rsa = ecdsa is null ? certificate.GetRSAPublicKey() : null;
        var valid = ecdsa?.VerifyData(payload, signature, HashAlgorithmName.SHA256)
            ?? rsa?.VerifyData(payload, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss) ?? false;
        if (!valid) throw new CallIdentityException($"the call's signature does not match certificate "
            + $"{certificate.Subject}");
        return certificate;
    }

    private static byte[] Payload(long time, string target, string method) =>
        Encoding.UTF8.GetBytes($"prunefuse-call/1\n{time}\n{target}\n{method}");
}

/// <summary>
/// Remembers, for a minute, which caller certificates chain to the cluster's CA, so a call costs one signature check
/// and not a chain build.
/// </summary>
public sealed class TrustCache
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (X509Certificate2 Certificate, string? Problem, DateTime Until,
        ClusterTrust Trust)> entries = new(StringComparer.Ordinal);

    /// <summary>The parsed certificate when it is trusted, else a <see cref="CallIdentityException"/> with
    /// why.</summary>
    public X509Certificate2 Check(ClusterTrust trust, byte[] raw)
    {
        var key = Convert.ToHexString(SHA256.HashData(raw));
        var now = DateTime.UtcNow;
        if (!entries.TryGetValue(key, out var entry) || entry.Until < now || !ReferenceEquals(entry.Trust.Authorities,
            trust.Authorities))
        {
            X509Certificate2 certificate;
            try
            {
                certificate = X509CertificateLoader.LoadCertificate(raw);
            }
            catch (CryptographicException)
            {
                throw new CallIdentityException("the call's caller certificate is not a certificate");
            }
            if (entries.Count > 1024) entries.Clear();
            entry = (certificate, trust.Problem(certificate), now + Lifetime, trust);
            entries[key] = entry;
        }
        return entry.Problem is { } problem ? throw new CallIdentityException(problem) : entry.Certificate;
    }
}

/// <summary>A call whose caller could not be established.</summary>
public sealed class CallIdentityException(string message) : Exception(message);
