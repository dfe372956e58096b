using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Client;

/// <summary>Connects the console to a silo's gateway; fails fast with one clear line when nothing listens.</summary>
public static class ClusterConnection
{
    /// <summary>
    /// This client's credentials for a cluster with TLS from the <c>--cert</c>, <c>--key</c> and <c>--ca</c> files;
    /// null when none is given (an embedded silo, or a cluster run without TLS). A missing, unreadable or expired
    /// file, or a certificate the CA did not issue, is a <see cref="ClientException"/> naming it.
    /// </summary>
    public static ClusterCredentials? Credentials(string certificate, string key, string password, string trustedCa)
    {
        if (certificate.Length == 0 && key.Length == 0 && trustedCa.Length == 0) return null;
        if (certificate.Length == 0 || trustedCa.Length == 0)
        {
            throw new ClientException($"a cluster with TLS needs both --cert (this client's certificate) and --ca "
                + $"(the cluster's CA); got only {(certificate.Length == 0 ? "--ca" : "--cert")}");
        }
        try
        {
            return new ClusterCredentials(new CredentialFiles(certificate, key, password, trustedCa),
                "the client certificate (--cert)");
        }
        catch (CertificateException e)
        {
            throw new ClientException(e.Message);
        }
    }

    /// <summary>
    /// Starts an Orleans client against the silo gateway at <paramref name="gatewayHost"/>:<paramref name="gatewayPort"/>
    /// (the embedded silo by default; any silo of a cluster otherwise), over mutual TLS when
    /// <paramref name="credentials"/> are given.
    /// </summary>
    public static async Task<IHost> ConnectAsync(string gatewayHost, int gatewayPort, ClusterCredentials? credentials,
        CancellationToken cancellationToken)
    {
        IPAddress address;
        try
        {
            address = IPAddress.TryParse(gatewayHost, out var ip) ? ip : (await Dns.GetHostAddressesAsync(gatewayHost, cancellationToken)).First();
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new ClientException($"cannot resolve the gateway host '{gatewayHost}'");
        }
        // Orleans retries for a long time when no gateway answers; probe first so the user hears at once.
        using (var probe = new TcpClient())
        {
            try
            {
                await probe.ConnectAsync(address, gatewayPort, cancellationToken);
            }
            catch (SocketException)
            {
                throw new ClientException($"cannot reach a PruneFuse silo at {gatewayHost}:{gatewayPort}: start one with `dotnet run -c Release --project src/Silo` (or scripts/demo.sh), or point --gateway-host/--gateway-port at a running silo");
            }
        }
        // A silo of another CA is named before Orleans starts (which would retry for its whole timeout).
        if (credentials is not null) await ProbeTlsAsync(address, gatewayHost, gatewayPort, credentials,
            cancellationToken);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        // The console owns Ctrl+C and SIGTERM (System.CommandLine cancels the command). The Generic Host's console
        // lifetime would swallow them and block the process exit until the host is disposed, which a call stuck on
        // a dead silo never reaches.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        // The silo's cluster and service ids (src/Silo/appsettings.json).
        builder.UseOrleansClient(c =>
        {
            c.UseStaticClustering(new IPEndPoint(address, gatewayPort))
                .Configure<Orleans.Configuration.ClusterOptions>(o =>
                {
                    o.ClusterId = "prunefuse";
                    o.ServiceId = "prunefuse";
                });
            if (credentials is not null) c.UseClusterTls(credentials);
        });
        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var start = host.StartAsync(timeout.Token);
        // Orleans also retries, silently, a connection the silo drops (no TLS where it needs it, or a certificate it
        // refuses): when the start is slow, ask the silo directly. A normal start takes well under this.
        if (await Task.WhenAny(start, Task.Delay(TimeSpan.FromSeconds(3), cancellationToken)) != start)
        {
            var refusal = credentials is null
                ? await SpeaksTlsAsync(address, gatewayPort, cancellationToken)
                    ? "requires TLS: give this cluster's client certificate with --cert, --key and --ca (env "
                        + "PRUNEFUSE_CERT, PRUNEFUSE_KEY, PRUNEFUSE_CA)"
                    : null
                : await DroppedAfterHandshakeAsync(address, gatewayHost, gatewayPort, credentials, cancellationToken)
                    ? $"refused this client's certificate {credentials.Certificate.Subject} (the silo's log says "
                        + $"why: it trusts another CA, or the certificate is revoked there)"
                    : null;
            if (refusal is not null)
            {
                await timeout.CancelAsync();
                try { await start; } catch (Exception) { /* abandoned on purpose */ }
                host.Dispose();
                throw new ClientException($"the silo at {gatewayHost}:{gatewayPort} {refusal}");
            }
        }
        try
        {
            await start;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw new ClientException($"the silo at {gatewayHost}:{gatewayPort} did not accept the client within 30 s (is it a PruneFuse silo with cluster id 'prunefuse'?)");
        }
        return host;
    }

    private static async Task ProbeTlsAsync(IPAddress address, string gatewayHost, int gatewayPort,
        ClusterCredentials credentials, CancellationToken cancellationToken)
    {
        string? serverProblem = null;
        var certificate = credentials.Certificate;
        // The server's certificate arrives before the client's is asked for; a server that refuses ours ends the
        // handshake before the validation callback runs, so look at it when it asks.
        void Check(X509Certificate? presented, X509Chain? chain) => serverProblem ??= presented is null ? null
            : credentials.Trust.Problem(presented as X509Certificate2
                ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData()), chain);
        RemoteCertificateValidationCallback validate = (_, presented, chain, _) =>
        {
            Check(presented, chain);
            return serverProblem is null;
        };
        LocalCertificateSelectionCallback select = (_, _, _, remote, _) =>
        {
            Check(remote, null);
            return certificate;
        };
        try
        {
            // TLS 1.3 where the silo offers it (it does): the client certificate then travels encrypted.
            await HandshakeAsync(address, gatewayPort, gatewayHost, TimeSpan.FromSeconds(10), validate, select, null,
                cancellationToken);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            if (serverProblem is not null)
            {
                throw new ClientException($"the silo at {gatewayHost}:{gatewayPort} is not a member of this cluster "
                    + $"(--ca): its {serverProblem}");
            }
            throw new ClientException($"the TLS handshake with the silo at {gatewayHost}:{gatewayPort} failed "
                + $"({e.Message.Split('\n')[0].TrimEnd('.')}): it does not use TLS (an embedded silo, or "
                + $"PruneFuse:Security:Enabled=false: leave out --cert) or refused certificate {certificate.Subject}");
        }
    }

    // Whether the silo closes the connection right after a TLS handshake with our certificate: a TLS server checks a
    // client certificate after its side of the handshake, so a refusal shows as the connection being dropped.
    private static async Task<bool> DroppedAfterHandshakeAsync(IPAddress address, string gatewayHost, int gatewayPort,
        ClusterCredentials credentials, CancellationToken cancellationToken)
    {
        var certificate = credentials.Certificate;
        var dropped = false;
        try
        {
            // An accepting Orleans gateway waits for our preamble and sends nothing.
            await HandshakeAsync(address, gatewayPort, gatewayHost, TimeSpan.FromSeconds(5),
                (_, presented, _, _) => presented is not null, (_, _, _, _, _) => certificate,
                async (tls, token) => dropped = await tls.ReadAsync(new byte[1], token) == 0, cancellationToken);
            return dropped;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return true;
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException
            && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    // Whether the gateway answers a TLS hello: a cluster silo with TLS does, a plain Orleans gateway closes.
    private static async Task<bool> SpeaksTlsAsync(IPAddress address, int gatewayPort,
        CancellationToken cancellationToken)
    {
        var answered = false;
        try
        {
            await HandshakeAsync(address, gatewayPort, "prunefuse", TimeSpan.FromSeconds(5),
                (_, _, _, _) => answered = true, null, null, cancellationToken);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException
            or OperationCanceledException)
        {
            // A refusal after the server's certificate arrived still means TLS.
        }
        return answered;
    }

    // One TLS handshake with the gateway within `limit`, then `after` on the open stream; the probes above differ
    // only in how they judge the server, which certificate they present and what they read afterwards.
    private static async Task HandshakeAsync(IPAddress address, int port, string targetHost, TimeSpan limit,
        RemoteCertificateValidationCallback validate, LocalCertificateSelectionCallback? select,
        Func<SslStream, CancellationToken, Task>? after, CancellationToken cancellationToken)
    {
        using var tcp = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        await tcp.ConnectAsync(address, port, timeout.Token);
        await using var tls = new SslStream(tcp.GetStream(), false, validate, select);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        }, timeout.Token);
        if (after is not null) await after(tls, timeout.Token);
    }

    /// <summary>The grain factory of a connected host.</summary>
    public static IClusterClient Client(this IHost host) => host.Services.GetRequiredService<IClusterClient>();

    /// <summary>
    /// Completes when the gateway at <paramref name="host"/>:<paramref name="port"/> stops accepting connections
    /// <paramref name="misses"/> probes in a row (one probe every <paramref name="interval"/>); runs until cancelled.
    /// Orleans notices a vanished gateway only when a call times out, which for long calls is many minutes.
    /// </summary>
    public static async Task WatchGatewayAsync(string host, int port, TimeSpan interval, int misses, CancellationToken cancellationToken)
    {
        var missed = 0;
        while (missed < misses)
        {
            await Task.Delay(interval, cancellationToken);
            using var probe = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(interval);
            try
            {
                await probe.ConnectAsync(host, port, timeout.Token);
                missed = 0;
            }
            catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                missed++;
            }
        }
    }

    private sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>An error shown to the user as one line, with a non-zero exit code.</summary>
public sealed class ClientException(string message) : Exception(message);
