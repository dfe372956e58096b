using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>
/// Loads a certificate with its private key from files: a PEM certificate with a PEM key (in the same file or in
/// <c>keyPath</c>), or a PFX/PKCS#12 file. Every problem is a <see cref="CertificateException"/> naming the file.
/// </summary>
public static class CertificateFiles
{
    /// <summary>Loads the certificate at <paramref name="certificatePath"/> with its private key.</summary>
    /// <param name="certificatePath">PEM (<c>-----BEGIN CERTIFICATE-----</c>) or PFX file.</param>
    /// <param name="keyPath">PEM private key file; empty when the key is in the certificate file.</param>
    /// <param name="password">PFX password (empty for none).</param>
    /// <param name="what">What the certificate is for, in messages ("the silo certificate").</param>
    public static X509Certificate2 LoadWithKey(string certificatePath, string? keyPath, string? password, string what)
    {
        var bytes = Read(certificatePath, what);
        X509Certificate2 loaded;
        try
        {
            if (IsPem(bytes))
            {
                var certificatePem = System.Text.Encoding.ASCII.GetString(bytes);
                var keyPem = string.IsNullOrEmpty(keyPath) ? certificatePem
                    : System.Text.Encoding.ASCII.GetString(Read(keyPath, what + "'s key"));
                using var pem = X509Certificate2.CreateFromPem(certificatePem, keyPem);
                // Linux keeps an ephemeral PEM key usable by SslStream only after a PKCS#12 round trip.
                loaded = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            else
            {
                loaded = X509CertificateLoader.LoadPkcs12(bytes, string.IsNullOrEmpty(password) ? null : password);
            }
        }
        catch (CryptographicException e)
        {
            var key = string.IsNullOrEmpty(keyPath) ? "" : $" with key {keyPath}";
            throw new CertificateException($"{what} {certificatePath}{key} cannot be loaded: "
                + $"{e.Message.TrimEnd('.')} (a PEM certificate with its PEM private key, or a PFX file with its "
                + $"password)");
        }
        catch (ArgumentException e)
        {
            throw new CertificateException($"{what} {certificatePath} cannot be loaded: {e.Message.TrimEnd('.')} (a "
                + $"PEM certificate with its PEM private key, or a PFX file with its password)");
        }
        if (!loaded.HasPrivateKey)
        {
            loaded.Dispose();
            throw new CertificateException($"{what} {certificatePath} has no private key (give the key file too)");
        }
        return loaded;
    }

    /// <summary>Loads every certificate of a PEM or DER file (a CA bundle); none is an error.</summary>
    public static X509Certificate2Collection LoadBundle(string path, string what)
    {
        var bytes = Read(path, what);
        var bundle = new X509Certificate2Collection();
        try
        {
            if (IsPem(bytes)) bundle.ImportFromPem(System.Text.Encoding.ASCII.GetString(bytes));
            else bundle.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (CryptographicException e)
        {
            throw new CertificateException($"{what} {path} is not a PEM or DER certificate: {e.Message.TrimEnd('.')}");
        }
        if (bundle.Count == 0) throw new CertificateException($"{what} {path} holds no certificate");
        return bundle;
    }

    /// <summary>A stamp that changes when the file is replaced (Kubernetes swaps a Secret's files by
    /// symlink).</summary>
    public static string Stamp(params string?[] paths) => string.Join("|", paths.Where(p
        => !string.IsNullOrEmpty(p)).Select(p =>
    {
        var info = new FileInfo(p!);
        // LinkTarget resolution: a Secret volume's file is a link into a timestamped folder.
        var target = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
        return target.Exists ? $"{target.FullName}:{target.Length}:{target.LastWriteTimeUtc.Ticks}" : "missing";
    }));

    private static byte[] Read(string path, string what)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException
            or NotSupportedException)
        {
            throw new CertificateException($"{what} {path} cannot be read: {e.Message}");
        }
    }

    private static bool IsPem(byte[] bytes) => System.Text.Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length,
        4096)).Contains("-----BEGIN", StringComparison.Ordinal);
}

/// <summary>A certificate, key or trust file that is missing, unreadable or not valid for its use.</summary>
public sealed class CertificateException(string message) : Exception(message);
