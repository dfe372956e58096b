using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Client.Tests;

/// <summary>
/// Cluster mode with mutual TLS, for real: a silo process over Azurite with certificates made the way
/// <c>prunefuse cluster certs create</c> makes them, and the console, raw TLS clients and a TCP proxy against it.
/// </summary>
public sealed class SecurityTests
{
    private const string AdminPassword = "admin-pass-41";
    private const string ViewerPassword = "viewer-pass-42";

    [Fact]
    public async Task A_cluster_with_TLS_admits_only_its_own_members_and_viewers_only_read()
    {
        await using var azurite = new AzuriteProcess();
        await azurite.InitializeAsync();
        using var dir = new TempDir("prunefuse-secure-");
        var certs = new TestCertificates(dir.File("certs"));
        var strangers = new TestCertificates(dir.File("strangers"));
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] = azurite.ConnectionString,
            ["PruneFuse__Http__Password"] = AdminPassword,
            ["PruneFuse__Http__ViewerPassword"] = ViewerPassword,
        };
        // Every client below reaches the gateway through a proxy that records every byte: the silo tells clients its
        // gateway is at the proxy's port (Orleans routes by the advertised address) and listens behind it.
        var listen = Ports.Free();
        await using var silo = new SiloProcess(dir.File("silo"), ["--PruneFuse:Mode=Cluster",
            "--PruneFuse:Storage:Container=secure", $"--PruneFuse:GatewayListenPort={listen}"],
            env, certificates: certs);
        await using var proxy = new RecordingProxy(silo.GatewayPort, listen);
        await silo.StartAsync();
        var port = silo.GatewayPort;

        // An admin certificate does everything.
        var import = await Processes.ClientAsync(port, "dataset", "import", "--id", "guarded", "--shards", "1",
            "--limit", "600", "--json");
        Assert.True(import.ExitCode == 0, import.Stdout + import.Stderr + silo.Log);

        // A viewer certificate reads, and is refused every change with its role named; nothing changes.
        string[] viewer = certs.ClientArguments(viewer: true);
        Assert.Equal(0, (await Processes.ClientAsync(port, ["experiment", "list", .. viewer])).ExitCode);
        var show = await Processes.ClientAsync(port, ["dataset", "show", "--id", "guarded", "--json", .. viewer]);
        Assert.True(show.ExitCode == 0, show.Stderr);
        foreach (var change in new[] { new[] { "experiment", "start", "--id", "by-viewer", "--dataset", "guarded" },
            ["dataset", "delete", "--id", "guarded"] })
        {
            var refused = await Processes.ClientAsync(port, [.. change, .. viewer]);
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("needs the admin role; certificate CN=prunefuse-viewer, OU=viewer, O=PruneFuse has the "
                + "viewer role", refused.Stderr);
        }
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "show", "--id", "guarded")).ExitCode);
        Assert.Equal(1, (await Processes.ClientAsync(port, "experiment", "status", "--id", "by-viewer")).ExitCode);

        // Refused clients hear one line that names the cause.
        var none = await Processes.ClientAsync(port, "experiment", "list", "--cert", "");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains($"the silo at 127.0.0.1:{port} requires TLS: give this cluster's client certificate with "
            + $"--cert", none.Stderr);
        var foreign = await Processes.ClientAsync(port, "experiment", "list", "--cert", strangers.File("admin.crt"),
            "--key", strangers.File("admin.key"), "--ca", certs.Ca);
        Assert.Equal(1, foreign.ExitCode);
        Assert.Contains("is not signed by the cluster's CA", foreign.Stderr);
        var wrongCa = await Processes.ClientAsync(port, ["experiment", "list", .. strangers.ClientArguments()]);
        Assert.Equal(1, wrongCa.ExitCode);
        Assert.Contains($"the silo at 127.0.0.1:{port} is not a member of this cluster (--ca)", wrongCa.Stderr);
        var authority = CertificateFiles.LoadWithKey(certs.Ca, certs.File("ca.key"), "", "ca");
        using (var expired = CertificateIssuer.Issue(authority, "CN=expired-admin, O=PruneFuse", false, [], [],
            DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(-1)))
        {
            CertificateIssuer.WritePem(expired, dir.File("expired.crt"), dir.File("expired.key"));
        }
        var old = await Processes.ClientAsync(port, "experiment", "list", "--cert", dir.File("expired.crt"), "--key",
            dir.File("expired.key"), "--ca", certs.Ca);
        Assert.Equal(1, old.ExitCode);
        Assert.Contains("certificate CN=expired-admin, O=PruneFuse expired on", old.Stderr);
        foreach (var r in new[] { none, foreign, wrongCa, old }) Assert.DoesNotContain("   at ", r.Stderr);

        // The silo itself refuses them (a client that skips the console's own checks), and logs why.
        var admin = CertificateFiles.LoadWithKey(certs.File("admin.crt"), certs.File("admin.key"), "", "admin");
        Assert.True((await HandshakeAsync(port, admin)).Accepted);
        Assert.False((await HandshakeAsync(port, null)).Accepted);
        Assert.False((await HandshakeAsync(port, CertificateFiles.LoadWithKey(strangers.File("admin.crt"),
            strangers.File("admin.key"), "", "stranger"))).Accepted);
        Assert.False((await HandshakeAsync(port, CertificateFiles.LoadWithKey(dir.File("expired.crt"),
            dir.File("expired.key"), "", "expired"))).Accepted);
        await Eventually(()
            => silo.Log.Contains("refused a TLS connection: certificate CN=expired-admin, O=PruneFuse expired on",
            StringComparison.Ordinal)
            && silo.Log.Contains("refused a TLS connection: certificate CN=prunefuse-admin, O=PruneFuse (issuer "
                + "CN=PruneFuse cluster CA, O=PruneFuse) is not signed by the cluster's CA", StringComparison.Ordinal),
                silo.Log);

        // Everything on the wire was encrypted: the proxy never saw an id a client sent or got back.
        const string canary = "plaintext-canary-7f3a";
        var through = await Processes.ClientAsync(port, "experiment", "status", "--id", canary);
        Assert.Equal(1, through.ExitCode);
        Assert.Contains($"unknown experiment '{canary}'", through.Stderr);
        var seen = proxy.Seen();
        Assert.True(seen.Length > 10_000, $"the proxy saw only {seen.Length} bytes");
        foreach (var id in new[] { canary, "guarded", "by-viewer", "prunefuse-viewer" })
        {
            Assert.DoesNotContain(id, Encoding.UTF8.GetString(seen), StringComparison.Ordinal);
            Assert.DoesNotContain(id, Encoding.Unicode.GetString(seen), StringComparison.Ordinal);
        }

        // HTTPS with the silo certificate: the admin user reads and acts, the viewer user reads only, probes stay open.
        using (var http = silo.HttpClient())
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/prunefuse")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(WithBasic(HttpMethod.Get, "/prunefuse", "prunefuse",
                AdminPassword))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(WithBasic(HttpMethod.Get, "/prunefuse", "viewer",
                ViewerPassword))).StatusCode);
            var post = await http.SendAsync(WithBasic(HttpMethod.Post, "/prunefuse", "viewer", ViewerPassword));
            Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
            Assert.Contains("has the viewer role", await post.Content.ReadAsStringAsync());
        }
        using (var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(20) })
        {
            // Credentials never go over plain HTTP: the port speaks TLS only.
            var answered = false;
            try
            {
                answered = (await plain.SendAsync(WithBasic(HttpMethod.Get,
                    $"http://127.0.0.1:{silo.HttpPort}/prunefuse", "prunefuse", AdminPassword))).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
            }
            Assert.False(answered, "the web port served a page over plain HTTP");
        }

        // A rotated silo certificate is served from the next connection on, without a restart.
        var first = (await HandshakeAsync(port, admin, settleSeconds: 0)).Server!;
        using (var rotated = CertificateIssuer.Issue(authority, "CN=prunefuse-silo-rotated, O=PruneFuse", true,
            ["localhost"], [IPAddress.Loopback], DateTimeOffset.UtcNow.AddMinutes(-5),
            DateTimeOffset.UtcNow.AddDays(30)))
        {
            CertificateIssuer.WritePem(rotated, dir.File("next.crt"), dir.File("next.key"));
        }
        File.Move(dir.File("next.key"), certs.File("silo.key"), overwrite: true);
        File.Move(dir.File("next.crt"), certs.File("silo.crt"), overwrite: true);
        await Eventually(async () => (await HandshakeAsync(port, admin, settleSeconds: 0)).Server?.Subject
            == "CN=prunefuse-silo-rotated, O=PruneFuse",
            $"still serving {first.Subject}\n{silo.Log}");
        Assert.Equal("CN=prunefuse-silo, O=PruneFuse", first.Subject);
        Assert.Contains("reloaded the silo certificate", silo.Log);
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "show", "--id", "guarded")).ExitCode);
    }

    [Fact]
    public async Task Certs_create_writes_a_cluster_set_once_and_says_how_to_use_it()
    {
        using var dir = new TempDir("prunefuse-certs-cli-");
        var made = await Processes.ClientAsync(0, "cluster", "certs", "create", "--out", dir.File("set"), "--host",
            "silo.example", "--days", "7");
        Assert.True(made.ExitCode == 0, made.Stderr);
        foreach (var file in CertificateIssuer.ClusterSetFiles) Assert.Contains($"wrote "
            + $"{dir.File(Path.Combine("set", file))}", made.Stdout);
        Assert.Contains($"PruneFuse__Security__TrustedCa={dir.File(Path.Combine("set", "ca.crt"))}", made.Stdout);
        Assert.Contains("--cert ", made.Stdout);
        var silo = CertificateFiles.LoadWithKey(dir.File("set/silo.crt"), dir.File("set/silo.key"), "", "silo");
        Assert.InRange((silo.NotAfter - DateTime.Now).TotalDays, 6.9, 7.1);
        var before = await File.ReadAllTextAsync(dir.File("set/admin.key"));
        var again = await Processes.ClientAsync(0, "cluster", "certs", "create", "--out", dir.File("set"));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("ca.crt exists: certificates are never overwritten", again.Stderr);
        Assert.Equal(before, await File.ReadAllTextAsync(dir.File("set/admin.key")));
        var days = await Processes.ClientAsync(0, "cluster", "certs", "create", "--out", dir.File("other"), "--days",
            "0");
        Assert.Equal(1, days.ExitCode);
        Assert.Contains("--days must be 1 to 3650, got 0", days.Stderr);
    }

    [Fact]
    public async Task A_silo_with_a_certificate_of_another_CA_does_not_join_and_the_cluster_keeps_working()
    {
        await using var azurite = new AzuriteProcess();
        await azurite.InitializeAsync();
        using var dir = new TempDir("prunefuse-intruder-");
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] = azurite.ConnectionString,
            ["PruneFuse__Http__Password"] = AdminPassword,
        };
        string[] cluster = ["--PruneFuse:Mode=Cluster", "--PruneFuse:Storage:Container=intruder",
            "--PruneFuse:StartupSeconds=30"];
        await using var member = new SiloProcess(dir.File("member"), cluster, env,
            certificates: new TestCertificates(dir.File("ours")));
        await member.StartAsync();
        await using var intruder = new SiloProcess(dir.File("intruder"), cluster, env,
            certificates: new TestCertificates(dir.File("theirs")));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(intruder.StartAsync);
        // It ends itself (Orleans' own "told I am dead", or our start-up bound), after saying why in its log.
        Assert.Matches(@"^silo exited with [1-9]", e.Message);
        const string why = "refused a TLS connection: certificate CN=prunefuse-silo, O=PruneFuse (issuer "
            + "CN=PruneFuse cluster CA, O=PruneFuse) is not signed by the cluster's CA";
        Assert.True(intruder.Log.Contains(why, StringComparison.Ordinal), intruder.Log);
        Assert.True(member.Log.Contains(why, StringComparison.Ordinal), member.Log);

        var status = await Processes.ClientAsync(member.GatewayPort, "cluster", "status", "--json");
        Assert.True(status.ExitCode == 0, status.Stderr);
        var silos = JsonDocument.Parse(status.LastLine).RootElement.GetProperty("silos").EnumerateArray().ToList();
        Assert.Equal([member.GatewayPort], silos.Select(s => s.GetProperty("gatewayPort").GetInt32()));
        Assert.Equal(0, (await Processes.ClientAsync(member.GatewayPort, "experiment", "list")).ExitCode);
    }

    private static HttpRequestMessage WithBasic(HttpMethod method, string path, string user, string password)
        => new(method, path)
    {
        Headers = { Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"))) },
    };

    // A TLS handshake, then a read: a TLS server checks the client's certificate after its side of the handshake, so
    // a refused one shows as the connection dropped; an accepting Orleans gateway waits for the client's preamble.
    // Any server certificate is accepted here, and returned. The wait for a drop is generous (a slow or busy host
    // checks late); with none, only the server's certificate is wanted.
    private static async Task<(bool Accepted, X509Certificate2? Server)> HandshakeAsync(int port,
        X509Certificate2? client, int settleSeconds = 10)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, presented, _, _) => presented is not null);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = client is null ? null : [client],
            });
            var server = tls.RemoteCertificate is { } c ? X509CertificateLoader.LoadCertificate(c.GetRawCertData())
                : null;
            if (settleSeconds == 0) return (true, server);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(settleSeconds));
            try
            {
                return (await tls.ReadAsync(new byte[1], wait.Token) > 0, server);
            }
            catch (OperationCanceledException)
            {
                return (true, server);
            }
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return (false, null);
        }
    }

    private static async Task Eventually(Func<bool> condition, string because) => await Eventually(()
        => Task.FromResult(condition()), because);

    private static async Task Eventually(Func<Task<bool>> condition, string because)
    {
        // Bounded by checks, not by this host's speed: a reload is looked for every 2 s.
        for (var i = 0; i < 60; i++)
        {
            if (await condition()) return;
            await Task.Delay(500);
        }
        Assert.Fail(because);
    }

    /// <summary>A TCP proxy in front of a port that records every byte it forwards, both ways.</summary>
    private sealed class RecordingProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly MemoryStream _seen = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public RecordingProxy(int port, int target)
        {
            _listener = new TcpListener(IPAddress.Loopback, port);
            _listener.Start();
            _accepting = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient inbound;
                    try
                    {
                        inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    _ = Task.Run(async () =>
                    {
                        using (inbound)
                        using (var outbound = new TcpClient())
                        {
                            await outbound.ConnectAsync(IPAddress.Loopback, target);
                            await Task.WhenAny(Pump(inbound.GetStream(), outbound.GetStream()),
                                Pump(outbound.GetStream(), inbound.GetStream()));
                        }
                    });
                }
            });
        }

        public byte[] Seen()
        {
            lock (_seen) return _seen.ToArray();
        }

        private async Task Pump(NetworkStream from, NetworkStream to)
        {
            var buffer = new byte[16384];
            try
            {
                int n;
                while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
                {
                    lock (_seen) _seen.Write(buffer, 0, n);
                    await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
