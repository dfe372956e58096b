using Orleans.Connections.Security;

namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>Mutual TLS as every member of a cluster sets it up: the silos, the console, the test and bench
/// clients.</summary>
public static class ClusterTls
{
    /// <summary>
    /// Requires a certificate from the other side and accepts only one the cluster's CA issued (not the system's
    /// trust store); presents the current certificate of <paramref name="credentials"/>, so a rotated one is used
    /// from the next connection on. <paramref name="refused"/> hears why a peer was turned away.
    /// </summary>
    public static void Apply(TlsOptions tls, ClusterCredentials credentials, Action<string> refused)
    {
        tls.LocalCertificate = credentials.Certificate;
        tls.LocalServerCertificateSelector = (_, _) => credentials.Certificate;
        tls.LocalClientCertificateSelector = (_, _, _, _, _) => credentials.Certificate;
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateValidation = (certificate, chain, _) =>
        {
            // The name checks of a public PKI do not apply: every certificate of this CA is a cluster member.
            if (credentials.Trust.Problem(certificate, chain) is not { } problem) return true;
            refused($"refused a TLS connection: {problem}");
            return false;
        };
    }

    /// <summary>A client of the cluster: mutual TLS to the gateways, and every call signed (see <see
    /// cref="CallIdentity"/>).</summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder client, ClusterCredentials credentials,
        Action<string>? refused = null)
    {
        client.UseTls(tls => Apply(tls, credentials, refused ?? (_ => { })));
        client.AddOutgoingGrainCallFilter(new CallSigningFilter(credentials));
        return client;
    }
}
