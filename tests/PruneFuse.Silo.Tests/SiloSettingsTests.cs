using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using PruneFuse.Silo;
using PruneFuse.Silo.Monitoring;

namespace PruneFuse.Silo.Tests;

/// <summary>How the silo reads its settings and its surroundings before Orleans starts.</summary>
public sealed class SiloSettingsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void A_port_another_process_listens_on_is_named_with_its_setting()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var free = Ports.Free();
        var options = new SiloOptions { GatewayPort = port, SiloPort = free };
        Assert.Equal([$"port {port} (PruneFuse:GatewayPort) is already in use by another process; stop it or choose another port"],
            StartupChecks.PortsInUse(options, Config(("urls", $"http://127.0.0.1:{Ports.Free()}"))));
        var busyHttp = StartupChecks.PortsInUse(new SiloOptions { GatewayPort = Ports.Free(), SiloPort = free }, Config(("urls", $"http://127.0.0.1:{port}")));
        Assert.Equal([$"port {port} (Urls) is already in use by another process; stop it or choose another port"], busyHttp);
        taken.Stop();
        Assert.Empty(StartupChecks.PortsInUse(options, Config()));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", "10.0.0.5", "http://127.0.0.1:8080/dashboard")]
    [InlineData("http://0.0.0.0:9000", "10.0.0.5", "http://10.0.0.5:9000/dashboard")]
    [InlineData("http://*:9000", "10.0.0.5", "http://10.0.0.5:9000/dashboard")]
    [InlineData("http://+:9001", "127.0.0.1", "http://127.0.0.1:9001/dashboard")]
    [InlineData("http://[::]:9002", "10.0.0.7", "http://10.0.0.7:9002/dashboard")]
    public void The_dashboard_url_is_one_a_person_can_open(string listening, string advertised, string expected) =>
        Assert.Equal(expected, Addresses.Dashboard([listening], advertised));

    [Fact]
    public void No_listen_address_means_no_dashboard_url() => Assert.Null(Addresses.Dashboard([], "127.0.0.1"));

    [Theory]
    [InlineData("http://127.0.0.1:8080;http://localhost:8081", new string[0])]
    [InlineData("http://0.0.0.0:8080", new[] { "http://0.0.0.0:8080" })]
    [InlineData("http://127.0.0.1:1;http://*:2", new[] { "http://*:2" })]
    [InlineData("http://[::1]:8080;http://[::]:8081", new[] { "http://[::]:8081" })]
    public void Urls_beyond_loopback_are_found(string urls, string[] expected) => Assert.Equal(expected, HttpAccess.NonLoopbackUrls(urls));

    [Fact]
    public void A_mode_that_does_not_convert_names_the_key_the_value_and_the_choices()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Config(("PruneFuse:Mode", "Clusterr")).GetSection("PruneFuse").Get<SiloOptions>());
        Assert.Equal("'Clusterr' at 'PruneFuse:Mode' is not one of Embedded, Cluster", Usage.ConversionError(e));
    }

    [Fact]
    public void Compute_slots_and_unit_sizes_out_of_range_are_named_with_their_keys()
    {
        var bad = new SiloOptions { Compute = new ComputeSection { Slots = 0, TorchThreads = -1 }, Scoring = new ScoringOptions { UnitSamples = 10 } }.Problems();
        Assert.Contains(bad, p => p.StartsWith("PruneFuse:Compute:Slots:", StringComparison.Ordinal));
        Assert.Contains(bad, p => p.StartsWith("PruneFuse:Compute:TorchThreads:", StringComparison.Ordinal));
        Assert.Contains(bad, p => p.StartsWith("PruneFuse:Scoring:UnitSamples:", StringComparison.Ordinal));
        var torch = new SiloOptions { Compute = new ComputeSection { Slots = 2 }, Scoring = new ScoringOptions { Engine = "torch" } }.Problems();
        Assert.Equal(["PruneFuse:Compute:Slots: the torch engine scores on the silo's one compute thread, so PruneFuse:Compute:Slots must be 1 with it (got 2); use PruneFuse:Scoring:Engine=onnx for more slots"], torch);
        Assert.Empty(new SiloOptions { Compute = new ComputeSection { Slots = 4, TorchThreads = 2 }, Scoring = new ScoringOptions { Threads = 1, UnitSamples = 4096 } }.Problems());
    }

    [Fact]
    public void Cluster_mode_needs_a_certificate_and_the_clusters_CA_unless_security_is_turned_off()
    {
        static SiloOptions Cluster(SecurityOptions security) => new()
        {
            Mode = SiloMode.Cluster, Storage = new StorageOptions { ConnectionString = "UseDevelopmentStorage=true" },
            Http = new HttpOptions { Password = "pw" }, Security = security,
        };
        var missing = Cluster(new SecurityOptions()).Problems();
        Assert.Equal(2, missing.Count);
        Assert.StartsWith("PruneFuse:Security:Certificate: cluster mode uses mutual TLS: set "
            + "PruneFuse:Security:Certificate (environment PruneFuse__Security__Certificate); `prunefuse cluster "
            + "certs create --out DIR`", missing[0]);
        Assert.StartsWith("PruneFuse:Security:TrustedCa: cluster mode uses mutual TLS: set "
            + "PruneFuse:Security:TrustedCa", missing[1]);
        Assert.Empty(Cluster(new SecurityOptions { Enabled = false }).Problems());
        Assert.Empty(Cluster(new SecurityOptions { Certificate = "silo.crt", TrustedCa = "ca.crt" }).Problems());
        Assert.Empty(new SiloOptions().Problems());
        var rule = Cluster(new SecurityOptions { Certificate = "silo.crt", TrustedCa = "ca.crt",
            ViewerRules = ["viewer"] }).Problems();
        Assert.Equal(["PruneFuse:Security:ViewerRules: role rule 'viewer' must be NAME=VALUE for a subject component "
            + "(OU=viewer, CN=ci-*) or DNS:NAME / IP:ADDRESS for a subject alternative name"], rule);
        var sameUser = new SiloOptions { Http = new HttpOptions { Password = "a", ViewerUsername = "prunefuse",
            ViewerPassword = "b" } }.Problems();
        Assert.Equal(["PruneFuse:Http:ViewerUsername: the viewer user name 'prunefuse' is the admin's: choose "
            + "another PruneFuse:Http:ViewerUsername"], sameUser);
    }

    [Fact]
    public void A_silo_whose_certificate_files_are_wrong_says_which_and_why()
    {
        using var dir = new TempDir("prunefuse-silocert-");
        var ours = new TestCertificates(dir.File("ours"));
        var theirs = new TestCertificates(dir.File("theirs"));
        SiloOptions With(string certificate, string key, string ca) => new()
        {
            Mode = SiloMode.Cluster, Security = new SecurityOptions { Certificate = certificate, Key = key,
                TrustedCa = ca },
        };
        Assert.NotNull(Security.SiloSecurity.For(With(ours.File("silo.crt"), ours.File("silo.key"), ours.Ca)));
        Assert.Null(Security.SiloSecurity.For(new SiloOptions()));
        var ownHttps = With(ours.File("silo.crt"), ours.File("silo.key"), ours.Ca);
        ownHttps.Http.Certificate = ours.File("viewer.crt");
        ownHttps.Http.Key = ours.File("viewer.key");
        Assert.Equal("CN=prunefuse-viewer, OU=viewer, O=PruneFuse",
            Security.SiloSecurity.For(ownHttps)!.Web.Certificate.Subject);
        Assert.Null(Security.SiloSecurity.For(new SiloOptions { Mode = SiloMode.Cluster,
            Security = new SecurityOptions { Enabled = false } }));
        Assert.Equal($"the silo certificate (PruneFuse:Security:Certificate) {theirs.File("silo.crt")}: certificate "
            + "CN=prunefuse-silo, O=PruneFuse (issuer CN=PruneFuse cluster CA, O=PruneFuse) is not signed by the "
            + "cluster's CA",
            Assert.Throws<PruneFuse.Grains.Interfaces.Security.CertificateException>(()
                => Security.SiloSecurity.For(With(theirs.File("silo.crt"), theirs.File("silo.key"), ours.Ca))).Message);
        Assert.StartsWith($"the silo certificate (PruneFuse:Security:Certificate) {dir.File("none.crt")} cannot be "
            + "read",
            Assert.Throws<PruneFuse.Grains.Interfaces.Security.CertificateException>(()
                => Security.SiloSecurity.For(With(dir.File("none.crt"), "", ours.Ca))).Message);
        Assert.StartsWith($"the trusted CA file {dir.File("none.ca")} cannot be read",
            Assert.Throws<PruneFuse.Grains.Interfaces.Security.CertificateException>(()
                => Security.SiloSecurity.For(With(ours.File("silo.crt"), ours.File("silo.key"),
                dir.File("none.ca")))).Message);
    }

    [Theory]
    [InlineData("urls", "http://0.0.0.0:8080", true)]
    [InlineData("urls", "https://0.0.0.0:8080", false)]
    [InlineData("urls", "http://127.0.0.1:8080", false)]
    [InlineData("Kestrel:Endpoints:Web:Url", "http://*:8080", true)]
    [InlineData("http_ports", "8080", true)]
    [InlineData("https_ports", "8443", false)]
    public void With_TLS_on_plain_HTTP_beyond_loopback_is_found(string key, string value, bool plaintext) =>
        Assert.Equal(plaintext, StartupChecks.PlaintextEndpoints(Config((key, value))).Count == 1);
}
