using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Tests.Shared;

/// <summary>
/// A cluster's certificates (CA, silo, admin and viewer clients) made with <see cref="CertificateIssuer"/>, as
/// <c>prunefuse cluster certs create</c> makes them: the cluster-mode fixtures run with mutual TLS on, as users do.
/// </summary>
public sealed class TestCertificates
{
    private static readonly Lazy<TestCertificates> Default = new(()
        => new TestCertificates(System.IO.Directory.CreateTempSubdirectory("prunefuse-certs-").FullName));

    /// <summary>Writes a new set into <paramref name="directory"/>.</summary>
    public TestCertificates(string directory)
    {
        Directory = directory;
        CertificateIssuer.CreateClusterSet(directory, [], 30);
    }

    /// <summary>The set every cluster-mode silo of this test process uses unless told otherwise.</summary>
    public static TestCertificates Shared => Default.Value;

    public string Directory { get; }

    public string Ca => Path.Combine(Directory, "ca.crt");

    public string File(string name) => Path.Combine(Directory, name);

    /// <summary>Environment that gives a silo this set's silo certificate and CA.</summary>
    public Dictionary<string, string> SiloEnvironment() => new()
    {
        ["PruneFuse__Security__Certificate"] = File("silo.crt"),
        ["PruneFuse__Security__Key"] = File("silo.key"),
        ["PruneFuse__Security__TrustedCa"] = Ca,
    };

    /// <summary>Console arguments for the admin (or viewer) client certificate.</summary>
    public string[] ClientArguments(bool viewer = false) =>
        ["--cert", File(viewer ? "viewer.crt" : "admin.crt"), "--key", File(viewer ? "viewer.key" : "admin.key"),
            "--ca", Ca];

    /// <summary>Credentials of the admin (or viewer) client, for in-process Orleans clients.</summary>
    public ClusterCredentials Credentials(bool viewer = false) =>
        new(new CredentialFiles(File(viewer ? "viewer.crt" : "admin.crt"), File(viewer ? "viewer.key" : "admin.key"),
            "", Ca), "the test client certificate");

    /// <summary>An HTTP client that trusts this set's CA (and nothing else) for a silo's HTTPS endpoints.</summary>
    public HttpClient HttpClient(Uri baseAddress)
    {
        var trust = new ClusterTrust(CertificateFiles.LoadBundle(Ca, "test CA"));
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, chain, _) => certificate is not null
                && trust.Problem(certificate, chain) is null,
        };
        return new HttpClient(handler) { BaseAddress = baseAddress };
    }
}
