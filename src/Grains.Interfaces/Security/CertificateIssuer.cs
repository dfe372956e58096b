using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>
/// Issues the certificates of a test or small cluster: its own CA, a silo certificate (server and client
/// authentication, for the silo and gateway ports and HTTPS) and client certificates. ECDSA P-256, PEM files.
/// </summary>
public static class CertificateIssuer
{
    /// <summary>Files <see cref="CreateClusterSet"/> writes, in order.</summary>
    public static readonly string[] ClusterSetFiles =
        ["ca.crt", "ca.key", "silo.crt", "silo.key", "admin.crt", "admin.key", "viewer.crt", "viewer.key"];

    /// <summary>A self-signed CA certificate with its key.</summary>
    public static X509Certificate2 CreateAuthority(string name, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=PruneFuse"), key,
            HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        var usage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign;
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>A certificate issued by <paramref name="authority"/>, with its key.</summary>
    /// <param name="authority">The CA, with its private key.</param>
    /// <param name="subject">Distinguished name, e.g. <c>CN=prunefuse-admin, O=PruneFuse</c>.</param>
    /// <param name="server">Also for server authentication (silos); clients get client authentication only.</param>
    /// <param name="dnsNames">DNS subject alternative names.</param>
    /// <param name="addresses">IP subject alternative names.</param>
    /// <param name="notBefore">Start of validity.</param>
    /// <param name="notAfter">End of validity (at most the CA's).</param>
    public static X509Certificate2 Issue(X509Certificate2 authority, string subject, bool server,
        IEnumerable<string> dnsNames,
        IEnumerable<IPAddress> addresses, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(subject), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var usages = new OidCollection { new("1.3.6.1.5.5.7.3.2") };
        if (server) usages.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        var names = new SubjectAlternativeNameBuilder();
        var any = false;
        foreach (var dns in dnsNames)
        {
            names.AddDnsName(dns);
            any = true;
        }
        foreach (var ip in addresses)
        {
            names.AddIpAddress(ip);
            any = true;
        }
        if (any) request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true,
            false));
        // Within the CA's own validity, which CertificateRequest insists on.
        if (notAfter > authority.NotAfter) notAfter = authority.NotAfter;
        if (notBefore < authority.NotBefore) notBefore = authority.NotBefore;
        using var issued = request.Create(authority, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes the certificate and, when <paramref name="keyPath"/> is given, its private key (mode
    /// 0600).</summary>
    public static void WritePem(X509Certificate2 certificate, string certificatePath, string? keyPath)
    {
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        if (keyPath is null) return;
        using var key = certificate.GetECDsaPrivateKey()
            ?? throw new CertificateException($"{certificatePath} has no ECDSA private key to write");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>
    /// Writes a cluster's CA, one silo certificate (for <c>localhost</c>, loopback and <paramref name="hosts"/>),
    /// an admin and a viewer client certificate into <paramref name="directory"/>; refuses to overwrite any of
    /// them. Returns the paths written.
    /// </summary>
    public static IReadOnlyList<string> CreateClusterSet(string directory, IEnumerable<string> hosts, int days)
    {
        if (days is < 1 or > 3650) throw new ArgumentException($"--days must be 1 to 3650, got {days}");
        var paths = ClusterSetFiles.Select(f => Path.Combine(directory, f)).ToArray();
        if (paths.FirstOrDefault(File.Exists) is { } existing)
        {
            throw new IOException($"{existing} exists: certificates are never overwritten (choose another --out, or "
                + $"remove the old set yourself)");
        }
        Directory.CreateDirectory(directory);
        var (dns, ips) = (new List<string> { "localhost" }, new List<IPAddress> { IPAddress.Loopback,
            IPAddress.IPv6Loopback });
        foreach (var host in hosts)
        {
            if (IPAddress.TryParse(host, out var ip)) ips.Add(ip);
            else if (Uri.CheckHostName(host) == UriHostNameType.Dns) dns.Add(host);
            else throw new ArgumentException($"--host '{host}' is neither a DNS name nor an IP address");
        }
        // Backdated a little: a silo whose clock is slightly behind must not see a certificate from the future.
        var from = DateTimeOffset.UtcNow.AddMinutes(-5);
        var until = DateTimeOffset.UtcNow.AddDays(days);
        using var ca = CreateAuthority("PruneFuse cluster CA", from, until);
        using var silo = Issue(ca, "CN=prunefuse-silo, O=PruneFuse", true, dns, ips, from, until);
        using var admin = Issue(ca, "CN=prunefuse-admin, O=PruneFuse", false, [], [], from, until);
        using var viewer = Issue(ca, "CN=prunefuse-viewer, OU=viewer, O=PruneFuse", false, [], [], from, until);
        WritePem(ca, paths[0], paths[1]);
        WritePem(silo, paths[2], paths[3]);
        WritePem(admin, paths[4], paths[5]);
        WritePem(viewer, paths[6], paths[7]);
        return paths;
    }
}
