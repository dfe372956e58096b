using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Grains.Tests;

/// <summary>The trust rules every member of a cluster applies: certificates, the CA, roles and signed calls.</summary>
public sealed class ClusterSecurityTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private static readonly ClusterRoles Roles = new([ClusterRoles.DefaultViewerRule]);

    private static X509Certificate2 Load(TempDir dir, string name) =>
        CertificateFiles.LoadWithKey(dir.File(name + ".crt"), dir.File(name + ".key"), "", name);

    [Fact]
    public void A_cluster_set_is_written_once_with_private_keys_readable_by_the_owner_only()
    {
        using var dir = new TempDir("prunefuse-certset-");
        var written = CertificateIssuer.CreateClusterSet(dir.Path, ["silo-a.example", "10.0.0.7"], 30);
        Assert.Equal(CertificateIssuer.ClusterSetFiles.Select(dir.File), written);
        if (!OperatingSystem.IsWindows())
        {
            foreach (var key in written.Where(f => f.EndsWith(".key", StringComparison.Ordinal)))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
            }
        }
        var before = File.ReadAllBytes(dir.File("ca.key"));
        var again = Assert.Throws<IOException>(() => CertificateIssuer.CreateClusterSet(dir.Path, [], 30));
        Assert.Contains("ca.crt exists: certificates are never overwritten", again.Message);
        Assert.Equal(before, File.ReadAllBytes(dir.File("ca.key")));

        var silo = CertificateFiles.LoadWithKey(dir.File("silo.crt"), dir.File("silo.key"), "", "silo");
        var names = silo.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost", "silo-a.example"], names.EnumerateDnsNames());
        Assert.Contains(System.Net.IPAddress.Parse("10.0.0.7"), names.EnumerateIPAddresses());
        var trust = new ClusterTrust(CertificateFiles.LoadBundle(dir.File("ca.crt"), "ca"));
        Assert.Null(trust.Problem(silo));
        Assert.Equal(ClusterRole.Admin,
            Roles.RoleOf(Load(dir, "admin")));
        Assert.Equal(ClusterRole.Viewer,
            Roles.RoleOf(Load(dir, "viewer")));
        Assert.Throws<ArgumentException>(() => CertificateIssuer.CreateClusterSet(dir.File("other"), ["not a host!"],
            30));
        Assert.Throws<ArgumentException>(() => CertificateIssuer.CreateClusterSet(dir.File("other2"), [], 0));
    }

    [Fact]
    public void Only_the_clusters_own_CA_within_validity_is_trusted()
    {
        using var ca = CertificateIssuer.CreateAuthority("ours", Now.AddDays(-10), Now.AddDays(10));
        using var other = CertificateIssuer.CreateAuthority("theirs", Now.AddDays(-1), Now.AddDays(10));
        var trust = new ClusterTrust([ca]);
        using var member = CertificateIssuer.Issue(ca, "CN=member", false, [], [], Now.AddDays(-1), Now.AddDays(5));
        using var stranger = CertificateIssuer.Issue(other, "CN=stranger", false, [], [], Now.AddDays(-1),
            Now.AddDays(5));
        using var expired = CertificateIssuer.Issue(ca, "CN=old", false, [], [], Now.AddDays(-3), Now.AddDays(-1));
        using var early = CertificateIssuer.Issue(ca, "CN=early", false, [], [], Now.AddDays(2), Now.AddDays(5));
        using var selfSigned = CertificateIssuer.CreateAuthority("ours", Now.AddDays(-1), Now.AddDays(10));

        Assert.Null(trust.Problem(member));
        Assert.Equal("certificate CN=stranger (issuer CN=theirs, O=PruneFuse) is not signed by the cluster's CA",
            trust.Problem(stranger));
        Assert.StartsWith("certificate CN=old expired on ", trust.Problem(expired));
        Assert.StartsWith("certificate CN=early is not valid before ", trust.Problem(early));
        // Same name as the CA, different key: a name is not trust.
        Assert.Contains("is not signed by the cluster's CA", trust.Problem(selfSigned));
        Assert.Equal("no certificate was presented", trust.Problem(null));
    }

    [Fact]
    public void Certificate_files_load_from_PEM_with_a_key_file_or_PFX_and_every_problem_names_the_file()
    {
        using var dir = new TempDir("prunefuse-certfiles-");
        using var ca = CertificateIssuer.CreateAuthority("ca", Now.AddDays(-1), Now.AddDays(10));
        using var member = CertificateIssuer.Issue(ca, "CN=member", true, ["localhost"], [], Now.AddDays(-1),
            Now.AddDays(5));
        CertificateIssuer.WritePem(member, dir.File("m.crt"), dir.File("m.key"));
        File.WriteAllText(dir.File("both.pem"), File.ReadAllText(dir.File("m.crt"))
            + File.ReadAllText(dir.File("m.key")));
        File.WriteAllBytes(dir.File("m.pfx"), member.Export(X509ContentType.Pkcs12, "pw"));
        File.WriteAllText(dir.File("garbage.crt"), "not a certificate");

        Assert.Equal(member.Thumbprint, CertificateFiles.LoadWithKey(dir.File("m.crt"), dir.File("m.key"), "",
            "the silo certificate").Thumbprint);
        Assert.True(CertificateFiles.LoadWithKey(dir.File("both.pem"), "", "", "the silo certificate").HasPrivateKey);
        Assert.True(CertificateFiles.LoadWithKey(dir.File("m.pfx"), "", "pw", "the silo certificate").HasPrivateKey);

        string Refusal(string file, string password) => Assert.Throws<CertificateException>(() =>
            CertificateFiles.LoadWithKey(dir.File(file), "", password, "the silo certificate")).Message;
        Assert.StartsWith($"the silo certificate {dir.File("missing.crt")} cannot be read:",
            Refusal("missing.crt", ""));
        Assert.StartsWith($"the silo certificate {dir.File("m.crt")} cannot be loaded:", Refusal("m.crt", ""));
        Assert.StartsWith($"the silo certificate {dir.File("m.pfx")} cannot be loaded:", Refusal("m.pfx", "wrong"));
        Assert.StartsWith($"the silo certificate {dir.File("garbage.crt")} cannot be loaded:",
            Refusal("garbage.crt", ""));
        Assert.StartsWith($"the CA {dir.File("garbage.crt")} is not a PEM or DER certificate",
            Assert.Throws<CertificateException>(() =>
            CertificateFiles.LoadBundle(dir.File("garbage.crt"), "the CA")).Message);
    }

    [Fact]
    public void Credentials_refuse_a_certificate_of_another_CA_and_pick_up_rotated_files()
    {
        using var dir = new TempDir("prunefuse-rotate-");
        using var ca = CertificateIssuer.CreateAuthority("ca", Now.AddDays(-1), Now.AddDays(10));
        using var other = CertificateIssuer.CreateAuthority("other", Now.AddDays(-1), Now.AddDays(10));
        CertificateIssuer.WritePem(ca, dir.File("ca.crt"), null);
        using (var stranger = CertificateIssuer.Issue(other, "CN=stranger", false, [], [], Now.AddDays(-1),
            Now.AddDays(5)))
        {
            CertificateIssuer.WritePem(stranger, dir.File("m.crt"), dir.File("m.key"));
        }
        var files = new CredentialFiles(dir.File("m.crt"), dir.File("m.key"), "", dir.File("ca.crt"));
        var refused = Assert.Throws<CertificateException>(() => new ClusterCredentials(files,
            "the client certificate"));
        Assert.Equal($"the client certificate {dir.File("m.crt")}: certificate CN=stranger (issuer CN=other, "
            + "O=PruneFuse) is not signed by the cluster's CA", refused.Message);

        using (var first = CertificateIssuer.Issue(ca, "CN=first", false, [], [], Now.AddDays(-1), Now.AddDays(5)))
        {
            CertificateIssuer.WritePem(first, dir.File("m.crt"), dir.File("m.key"));
        }
        var reports = new List<string>();
        var credentials = new ClusterCredentials(files, "the client certificate", reports.Add);
        Assert.Equal("CN=first", credentials.Certificate.Subject);
        using (var second = CertificateIssuer.Issue(ca, "CN=second", false, [], [], Now.AddDays(-1), Now.AddDays(5)))
        {
            // Written aside and moved in, as a Secret update swaps its files.
            CertificateIssuer.WritePem(second, dir.File("new.crt"), dir.File("new.key"));
        }
        File.Move(dir.File("new.key"), dir.File("m.key"), overwrite: true);
        File.Move(dir.File("new.crt"), dir.File("m.crt"), overwrite: true);
        Thread.Sleep(ClusterCredentials.RecheckInterval + TimeSpan.FromMilliseconds(200));
        Assert.Equal("CN=second", credentials.Certificate.Subject);
        Assert.Contains(reports, r => r.StartsWith("reloaded the client certificate", StringComparison.Ordinal)
            && r.Contains("CN=second", StringComparison.Ordinal));

        // A half-written replacement keeps the previous certificate in use, and says so.
        File.WriteAllText(dir.File("m.crt"), "-----BEGIN CERTIFICATE-----\ntruncated");
        Thread.Sleep(ClusterCredentials.RecheckInterval + TimeSpan.FromMilliseconds(200));
        Assert.Equal("CN=second", credentials.Certificate.Subject);
        Assert.Contains(reports, r => r.StartsWith("the client certificate: kept the previous certificate",
            StringComparison.Ordinal));
    }

    [Fact]
    public void A_Kubernetes_Secret_update_is_picked_up_through_its_symbolic_links()
    {
        // A Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>; an update writes a new timestamped
        // folder and swaps ..data in one rename.
        using var dir = new TempDir("prunefuse-secret-");
        using var ca = CertificateIssuer.CreateAuthority("ca", Now.AddDays(-1), Now.AddDays(10));
        void Version(string folder, string subject)
        {
            Directory.CreateDirectory(dir.File(folder));
            var into = dir.File(folder);
            using var c = CertificateIssuer.Issue(ca, subject, true, ["localhost"], [], Now.AddDays(-1),
                Now.AddDays(5));
            CertificateIssuer.WritePem(c, Path.Combine(into, "tls.crt"), Path.Combine(into, "tls.key"));
            CertificateIssuer.WritePem(ca, Path.Combine(into, "ca.crt"), null);
        }
        Version("..2026_12_07_1", "CN=v1");
        Directory.CreateSymbolicLink(dir.File("..data"), "..2026_12_07_1");
        foreach (var name in new[] { "tls.crt", "tls.key", "ca.crt" })
        {
            File.CreateSymbolicLink(dir.File(name), Path.Combine("..data", name));
        }
        var files = new CredentialFiles(dir.File("tls.crt"), dir.File("tls.key"), "", dir.File("ca.crt"));
        var credentials = new ClusterCredentials(files, "silo");
        Assert.Equal("CN=v1", credentials.Certificate.Subject);

        Version("..2026_12_07_2", "CN=v2");
        Directory.CreateSymbolicLink(dir.File("..data_tmp"), "..2026_12_07_2");
        // rename(2) of the link itself, as kubelet does it (File.Move would follow the link to the folder).
        using (var mv = System.Diagnostics.Process.Start("mv", ["-Tf", dir.File("..data_tmp"), dir.File("..data")]))
        {
            mv.WaitForExit();
            Assert.Equal(0, mv.ExitCode);
        }
        Thread.Sleep(ClusterCredentials.RecheckInterval + TimeSpan.FromMilliseconds(200));
        Assert.Equal("CN=v2", credentials.Certificate.Subject);
    }

    [Theory]
    [InlineData("OU=viewer", "CN=a, OU=viewer, O=PruneFuse", true)]
    [InlineData("OU=viewer", "CN=a, OU=viewers, O=PruneFuse", false)]
    [InlineData("cn=ci-*", "CN=CI-nightly, O=PruneFuse", true)]
    [InlineData("CN=ci-*", "CN=prod-ci, O=PruneFuse", false)]
    [InlineData("DNS:*.ci.example", "CN=x", true)]
    [InlineData("IP:10.0.0.7", "CN=x", true)]
    [InlineData("IP:10.0.0.8", "CN=x", false)]
    public void Viewer_rules_match_subject_components_and_alternative_names(string rule, string subject, bool viewer)
    {
        using var ca = CertificateIssuer.CreateAuthority("ca", Now.AddDays(-1), Now.AddDays(10));
        using var certificate = CertificateIssuer.Issue(ca, subject, false, ["runner.ci.example"],
            [System.Net.IPAddress.Parse("10.0.0.7")], Now.AddDays(-1), Now.AddDays(5));
        Assert.Equal(viewer ? ClusterRole.Viewer : ClusterRole.Admin, new ClusterRoles([rule]).RoleOf(certificate));
    }

    [Theory]
    [InlineData("viewer", "role rule 'viewer' must be NAME=VALUE")]
    [InlineData("URI:spiffe://x", "a subject alternative name rule starts with DNS: or IP:")]
    [InlineData("OU=", "role rule 'OU=' must be NAME=VALUE")]
    public void A_malformed_viewer_rule_is_named(string rule, string expected) => Assert.Contains(expected,
        ClusterRoles.Problem(rule));

    [Fact]
    public void A_signed_call_proves_its_caller_and_any_change_to_it_is_refused()
    {
        using var dir = new TempDir("prunefuse-sign-");
        CertificateIssuer.CreateClusterSet(dir.Path, [], 30);
        var admin = new ClusterCredentials(new CredentialFiles(dir.File("admin.crt"), dir.File("admin.key"), "",
            dir.File("ca.crt")), "admin");
        var trust = admin.Trust;
        var cache = new TrustCache();
        const string target = "coordinator/exp-1";
        const string method = "prunefuse.ICoordinatorGrain.Start";

        RequestContext.Clear();
        Assert.Contains("carries no caller certificate", Assert.Throws<CallIdentityException>(()
            => CallIdentity.Verify(trust, target, method, cache)).Message);

        CallIdentity.Attach(admin, target, method);
        Assert.Equal("CN=prunefuse-admin, O=PruneFuse", CallIdentity.Verify(trust, target, method, cache).Subject);
        // The signature covers the target and the method: it cannot be moved to another call.
        Assert.Contains("does not match", Assert.Throws<CallIdentityException>(() => CallIdentity.Verify(trust,
            "coordinator/exp-2", method, cache)).Message);
        Assert.Contains("does not match", Assert.Throws<CallIdentityException>(() => CallIdentity.Verify(trust, target,
            "prunefuse.ICoordinatorGrain.Delete", cache)).Message);

        // Another member's certificate with this signature: refused.
        RequestContext.Set(CallIdentity.CertificateKey, CertificateFiles.LoadWithKey(dir.File("viewer.crt"),
            dir.File("viewer.key"), "", "v").RawData);
        Assert.Contains("does not match", Assert.Throws<CallIdentityException>(() => CallIdentity.Verify(trust, target,
            method, cache)).Message);

        // A stale signature: refused, naming the clocks.
        CallIdentity.Attach(admin, target, method);
        RequestContext.Set(CallIdentity.TimeKey, DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds());
        Assert.Contains("check the clocks", Assert.Throws<CallIdentityException>(() => CallIdentity.Verify(trust,
            target, method, cache)).Message);

        // A certificate of another CA, properly signed with its own key: refused as a stranger.
        using var other = new TempDir("prunefuse-sign-other-");
        CertificateIssuer.CreateClusterSet(other.Path, [], 30);
        var stranger = new ClusterCredentials(new CredentialFiles(other.File("admin.crt"), other.File("admin.key"), "",
            other.File("ca.crt")), "stranger");
        CallIdentity.Attach(stranger, target, method);
        Assert.Contains("is not signed by the cluster's CA", Assert.Throws<CallIdentityException>(()
            => CallIdentity.Verify(trust, target, method, cache)).Message);
        RequestContext.Clear();
    }

    [Fact]
    public void Only_reading_methods_are_open_to_viewers()
    {
        static string[] Open(Type t) => [.. t.GetMethods().Where(m
            => m.GetCustomAttributes(typeof(ViewerMayCallAttribute), false).Length > 0).Select(m
            => m.Name).Order(StringComparer.Ordinal)];
        Assert.Equal(["GetDashboardUrl", "ListArchitectures", "ListDatasets", "ListExperiments"],
            Open(typeof(ICatalogGrain)));
        Assert.Equal(["GetSelection", "GetStatus"], Open(typeof(ICoordinatorGrain)));
        Assert.Equal(["Describe", "GetImportProgress", "GetSamples", "GetSourceKeys"], Open(typeof(IDatasetGrain)));
        Assert.Empty(Open(typeof(IWeightsGrain)));
        Assert.Empty(Open(typeof(IModelExportGrain)));
        Assert.Empty(Open(typeof(IScoringWorkerGrain)));
    }

    [Fact]
    public void An_RSA_certificate_signs_calls_too()
    {
        using var ca = CertificateIssuer.CreateAuthority("ca", Now.AddDays(-1), Now.AddDays(10));
        using var dir = new TempDir("prunefuse-rsa-");
        CertificateIssuer.WritePem(ca, dir.File("ca.crt"), null);
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=rsa-client", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var caKey = ca.GetECDsaPrivateKey()!;
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), Now.AddDays(-1),
            Now.AddDays(5), RandomNumberGenerator.GetBytes(8));
        using var withKey = issued.CopyWithPrivateKey(rsa);
        File.WriteAllBytes(dir.File("rsa.pfx"), withKey.Export(X509ContentType.Pkcs12));
        var credentials = new ClusterCredentials(new CredentialFiles(dir.File("rsa.pfx"), "", "", dir.File("ca.crt")),
            "rsa");
        CallIdentity.Attach(credentials, "t", "m");
        Assert.Equal("CN=rsa-client", CallIdentity.Verify(credentials.Trust, "t", "m", new TrustCache()).Subject);
        RequestContext.Clear();
    }
}
