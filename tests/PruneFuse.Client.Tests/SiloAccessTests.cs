using System.Globalization;
using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>Who can reach a silo: embedded mode only from this machine, cluster mode only with credentials.</summary>
public sealed class SiloAccessTests
{
    [Fact]
    public async Task Embedded_silo_listens_on_loopback_only()
    {
        using var dir = new TempDir("prunefuse-access-");
        await using var silo = new SiloProcess(dir.Path);
        await silo.StartAsync();

        var listening = ListeningSockets();
        foreach (var port in new[] { silo.GatewayPort, silo.SiloPort, silo.HttpPort })
        {
            var sockets = listening.Where(s => s.Port == port).ToList();
            Assert.True(sockets.Count > 0, $"nothing listens on port {port}");
            Assert.All(sockets, s => Assert.True(s.Loopback, $"port {port} listens on {s.Address}, not loopback"));
        }

        // The shipped default (no --Urls) is loopback too.
        var settings = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(BuildOutput.SiloDll)!, "appsettings.json")));
        Assert.StartsWith("http://127.0.0.1:", settings.RootElement.GetProperty("Urls").GetString());
    }

    [Theory]
    [InlineData("http://0.0.0.0:{0}")]
    [InlineData("http://*:{0}")]
    [InlineData("http://127.0.0.1:{0};http://[::]:{0}")]
    public async Task Embedded_silo_refuses_to_serve_other_machines(string urls)
    {
        using var dir = new TempDir("prunefuse-access-");
        var data = Path.Combine(dir.Path, "data");
        var url = string.Format(CultureInfo.InvariantCulture, urls, Ports.Free());
        var run = await Processes.SiloUntilExitAsync(null, $"--Urls={url}", $"--PruneFuse:DataRoot={data}",
            $"--PruneFuse:GatewayPort={Ports.Free()}", $"--PruneFuse:SiloPort={Ports.Free()}");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("embedded mode serves HTTP on 127.0.0.1 only", run.Stderr);
        Assert.False(Directory.Exists(data), "a refused silo must not create its data folder");
    }

    [Fact]
    public async Task Cluster_silo_without_credentials_refuses_to_start_and_never_prints_the_storage_key()
    {
        const string key = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs=";
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] = $"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={key};BlobEndpoint=http://127.0.0.1:9/acct;TableEndpoint=http://127.0.0.1:9/acct;",
        };
        var run = await Processes.SiloUntilExitAsync(env, "--PruneFuse:Mode=Cluster", $"--PruneFuse:GatewayPort={Ports.Free()}", $"--PruneFuse:SiloPort={Ports.Free()}",
            $"--Urls=http://127.0.0.1:{Ports.Free()}");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("PruneFuse:Http:Password", run.Stderr);
        Assert.DoesNotContain(key, run.Stdout + run.Stderr);
    }

    private sealed record Socket(string Address, int Port, bool Loopback);

    // /proc/net/tcp{,6}: "sl local_address rem_address st ..." with addresses as little-endian hex and state 0A = LISTEN.
    private static List<Socket> ListeningSockets()
    {
        var sockets = new List<Socket>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(file)) continue;
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 4 || f[3] != "0A") continue;
                var (address, port) = (f[1].Split(':')[0], int.Parse(f[1].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                var loopback = address is "0100007F" or "00000000000000000000000001000000" or "0000000000000000FFFF00000100007F";
                sockets.Add(new Socket(address, port, loopback));
            }
        }
        return sockets;
    }
}
