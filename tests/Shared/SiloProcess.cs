using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace PruneFuse.Tests.Shared;

/// <summary>
/// A real silo in its own process (the built prunefuse-silo.dll) on free ports. It can be killed (SIGKILL), stopped
/// gracefully (SIGTERM) and started again on the same ports, as a crashed or redeployed silo would be.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private Process? _process;
    private readonly StringBuilder _log = new();
    private readonly string[] _extraArgs;
    private readonly Dictionary<string, string> _environment;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, TestCertificates> Secured = new();

    /// <param name="cpus">With a CPU list (<c>taskset -c</c> syntax, e.g. "1"), the silo process runs pinned to those CPUs.</param>
    /// <param name="certificates">
    /// A cluster-mode silo runs with mutual TLS and HTTPS, as users run it: with this set's silo certificate, or
    /// <see cref="TestCertificates.Shared"/>'s; none when the arguments or environment turn security off or name
    /// a certificate themselves.
    /// </param>
    public SiloProcess(string dataRoot, IEnumerable<string>? extraArgs = null, Dictionary<string,
        string>? environment = null, string? name = null, string? cpus = null,
        TestCertificates? certificates = null)
    {
        Cpus = cpus;
        DataRoot = dataRoot;
        _extraArgs = extraArgs?.ToArray() ?? [];
        _environment = environment is null ? [] : new Dictionary<string, string>(environment);
        GatewayPort = Ports.Free();
        SiloPort = Ports.Free();
        HttpPort = Ports.Free();
        Name = name ?? $"silo-{SiloPort}";
        var cluster = _extraArgs.Contains("--PruneFuse:Mode=Cluster", StringComparer.OrdinalIgnoreCase);
        var off = _extraArgs.Contains("--PruneFuse:Security:Enabled=false", StringComparer.OrdinalIgnoreCase)
            || (_environment.TryGetValue("PruneFuse__Security__Enabled", out var enabled) && enabled.Equals("false",
                StringComparison.OrdinalIgnoreCase));
        if (cluster && !off)
        {
            Certificates = certificates ?? TestCertificates.Shared;
            foreach (var (k, v) in Certificates.SiloEnvironment()) _environment.TryAdd(k, v);
            Secured[GatewayPort] = Certificates;
        }
    }

    /// <summary>The certificates of a silo that runs with TLS (cluster mode), else null.</summary>
    public TestCertificates? Certificates { get; }

    /// <summary>Where its web host listens: HTTPS with TLS on, else HTTP, on loopback.</summary>
    public Uri BaseAddress => new($"{(Certificates is null ? "http" : "https")}://127.0.0.1:{HttpPort}");

    /// <summary>An HTTP client for its web host (trusting its cluster's CA when it serves HTTPS).</summary>
    public HttpClient HttpClient() => Certificates?.HttpClient(BaseAddress)
        ?? new HttpClient { BaseAddress = BaseAddress };

    /// <summary>
    /// The console arguments a client needs for the silo with gateway <paramref name="gatewayPort"/>: the admin (or
    /// viewer) certificate of its cluster when it runs with TLS, else none.
    /// </summary>
    public static string[] ClientArgumentsFor(int gatewayPort, bool viewer = false) =>
        Secured.TryGetValue(gatewayPort, out var certificates) ? certificates.ClientArguments(viewer) : [];

    public string Name { get; }

    /// <summary>The CPUs the process is pinned to, or null.</summary>
    public string? Cpus { get; }

    public string DataRoot { get; }

    public int GatewayPort { get; }

    public int SiloPort { get; }

    public int HttpPort { get; }

    /// <summary>Everything every incarnation of this silo wrote to stdout and stderr.</summary>
    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    public bool Running => _process is { HasExited: false };

    /// <summary>The running silo's process id.</summary>
    public int Pid => _process is { HasExited: false } p ? p.Id
        : throw new InvalidOperationException($"{Name} is not running");

    /// <summary>A line of the running silo's <c>/proc/PID/status</c> in bytes (e.g. <c>VmRSS</c>,
    /// <c>VmHWM</c>).</summary>
    public long StatusBytes(string field) =>
        long.Parse(File.ReadAllLines($"/proc/{Pid}/status").Single(l => l.StartsWith(field + ":",
            StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    /// <summary>Starts the silo (again) and waits until /health/ready answers.</summary>
    public async Task StartAsync()
    {
        if (Running) throw new InvalidOperationException($"{Name} is already running");
        _process?.Dispose();
        var psi = new ProcessStartInfo(Cpus is null ? "dotnet" : "taskset") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // taskset execs dotnet in place, so the process (and a kill of it) is the silo itself.
        foreach (var a in (Cpus is null ? [] : new[] { "-c", Cpus, "dotnet" }).Concat(new[]
        {
            BuildOutput.SiloDll, $"--PruneFuse:DataRoot={DataRoot}", $"--PruneFuse:GatewayPort={GatewayPort}", $"--PruneFuse:SiloPort={SiloPort}",
            $"--Urls={BaseAddress.GetLeftPart(UriPartial.Authority)}",
        }).Concat(_extraArgs))
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in _environment) psi.Environment[k] = v;
        lock (_log) _log.AppendLine($"--- {Name} starting at {DateTime.UtcNow:O}");
        var process = Process.Start(psi)!;
        _process = process;
        process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"silo exited with {process.ExitCode} ({Name}):\n{Log}");
            try
            {
                var r = await http.GetAsync("/health/ready");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"silo {Name} not ready within 90 s:\n{Log}");
            await Task.Delay(250);
        }
    }

    /// <summary>SIGKILL: no graceful shutdown, no chance to persist anything more.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            lock (_log) _log.AppendLine($"--- {Name} killed (SIGKILL) at {DateTime.UtcNow:O}");
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod: Orleans shuts down gracefully. SIGKILL after <paramref name="timeout"/>.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } process) return;
        lock (_log) _log.AppendLine($"--- {Name} stopping (SIGTERM) at {DateTime.UtcNow:O}");
        if (SendSignal(process.Id, 15) != 0) throw new InvalidOperationException($"could not send SIGTERM to {Name} (pid {process.Id})");
        using var cts = new CancellationTokenSource(timeout);
        var clock = Stopwatch.StartNew();
        try
        {
            await process.WaitForExitAsync(cts.Token);
            LastStopSeconds = clock.Elapsed.TotalSeconds;
            lock (_log) _log.AppendLine($"--- {Name} stopped with exit code {process.ExitCode}");
            if (process.ExitCode != 0) UncleanStops++;
        }
        catch (OperationCanceledException)
        {
            LastStopSeconds = clock.Elapsed.TotalSeconds;
            UncleanStops++;
            await KillAsync();
        }
    }

    /// <summary>
    /// How long a SIGTERM'd silo configured with <paramref name="shutdownSeconds"/> may take to exit: its own
    /// allowance (the silo ends itself when that runs out) plus the process's own start-up of the exit, never a guess
    /// about how fast this host is.
    /// </summary>
    public static TimeSpan StopAllowance(int shutdownSeconds) => TimeSpan.FromSeconds(shutdownSeconds + 5);

    /// <summary>Seconds from SIGTERM to exit of the last graceful stop.</summary>
    public double LastStopSeconds { get; private set; }

    /// <summary>Exit code of the last incarnation that exited.</summary>
    public int? LastExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Graceful stops that ended with a non-zero exit code or had to be killed.</summary>
    public int UncleanStops { get; private set; }

    /// <summary>Sends a POSIX signal to a process (kill(2)); 0 on success.</summary>
    public static int SendSignal(int pid, int signal) => Kill(pid, signal);

#pragma warning disable SYSLIB1054 // one blittable call; LibraryImport would need unsafe code in this project
    [DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}
