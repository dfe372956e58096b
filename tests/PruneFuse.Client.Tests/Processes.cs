using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PruneFuse.Client.Tests;

/// <summary>Runs the real silo and the real `prunefuse` console as separate processes.</summary>
internal static class Processes
{
    public static string RepoRoot { get; } = FindRoot();

    // bin/<Configuration>/net10.0/ of this test assembly tells which build of the silo and client to run.
    private static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    public static string SiloDll => Output("src/Silo", "prunefuse-silo.dll");

    public static string ClientDll => Output("src/Client", "prunefuse.dll");

    private static string Output(string project, string dll)
    {
        var path = Path.Combine(RepoRoot, project, "bin", Configuration, "net10.0", dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build the solution first", path);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "PruneFuse.sln"))) return d.FullName;
        }
        throw new InvalidOperationException("repository root (PruneFuse.sln) not found");
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string LastLine => Stdout.TrimEnd().Split('\n')[^1];
    }

    /// <summary>Runs any program to completion (bounded); a missing program fails with the package to install.</summary>
    public static async Task<Result> RunAsync(string program, string installHint, params string[] args)
    {
        if (!File.Exists(program)) throw new InvalidOperationException($"{program} not found: {installHint}");
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(cts.Token);
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs the client to completion (bounded).</summary>
    public static Task<Result> ClientAsync(int gatewayPort, params string[] args) =>
        DotnetAsync(ClientDll, [.. args, "--gateway-port", gatewayPort.ToString()], TimeSpan.FromMinutes(5), null);

    /// <summary>Runs the silo until it exits by itself (a configuration it refuses), bounded.</summary>
    public static Task<Result> SiloUntilExitAsync(Dictionary<string, string>? environment, params string[] args) =>
        DotnetAsync(SiloDll, args, TimeSpan.FromMinutes(1), environment);

    private static async Task<Result> DotnetAsync(string dll, string[] args, TimeSpan timeout, Dictionary<string, string>? environment)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(dll)} {string.Join(' ', args)} did not exit within {timeout}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}

internal sealed class SiloProcess : IAsyncDisposable
{
    private Process? _process;
    private readonly StringBuilder _log = new();

    private readonly string[] _extraArgs;
    private readonly Dictionary<string, string> _environment;

    public SiloProcess(string dataRoot, IEnumerable<string>? extraArgs = null, Dictionary<string, string>? environment = null)
    {
        DataRoot = dataRoot;
        _extraArgs = extraArgs?.ToArray() ?? [];
        _environment = environment ?? [];
        GatewayPort = Ports.Free();
        SiloPort = Ports.Free();
        HttpPort = Ports.Free();
    }

    public string DataRoot { get; }

    public int GatewayPort { get; }

    public int SiloPort { get; }

    public int HttpPort { get; }

    public string Log => _log.ToString();

    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
        {
            Processes.SiloDll, $"--PruneFuse:DataRoot={DataRoot}", $"--PruneFuse:GatewayPort={GatewayPort}", $"--PruneFuse:SiloPort={SiloPort}",
            $"--Urls=http://127.0.0.1:{HttpPort}",
        }.Concat(_extraArgs))
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in _environment) psi.Environment[k] = v;
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"silo exited with {_process.ExitCode}:\n{Log}");
            try
            {
                var r = await http.GetAsync($"http://127.0.0.1:{HttpPort}/health/ready");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"silo not ready within 90 s:\n{Log}");
            await Task.Delay(250);
        }
    }

    /// <summary>SIGKILL: no graceful shutdown, no chance to persist anything more.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}
