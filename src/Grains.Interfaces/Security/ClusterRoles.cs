using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>What a member of the cluster may do.</summary>
public enum ClusterRole
{
    /// <summary>Read only: list, status, report, selections and scores, the dashboard and /prunefuse.</summary>
    Viewer,
    /// <summary>Everything: import, start, cancel, delete, labels, and what a viewer may.</summary>
    Admin,
}

/// <summary>Marks a grain method a <see cref="ClusterRole.Viewer"/> may call; every other method needs admin.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ViewerMayCallAttribute : Attribute;

/// <summary>
/// Which certificates have the viewer role: each rule is matched against the certificate's subject components
/// (<c>OU=viewer</c>, <c>CN=ci-*</c>) and its DNS and IP subject alternative names (<c>DNS:*.ci.example</c>,
/// <c>IP:10.0.0.7</c>); <c>*</c> matches any run of characters, case-insensitively. A certificate no rule
/// matches is an admin: every certificate the cluster's CA issues is a member.
/// </summary>
public sealed class ClusterRoles
{
    /// <summary>The default viewer rule: the <c>OU=viewer</c> that <c>prunefuse cluster certs create</c>
    /// writes.</summary>
    public const string DefaultViewerRule = "OU=viewer";

    private readonly (string Kind, Regex Value)[] viewers;

    /// <summary>Parses the rules; a malformed one is an <see cref="ArgumentException"/> naming it.</summary>
    public ClusterRoles(IEnumerable<string> viewerRules)
    {
        viewers = [.. viewerRules.Select(Parse)];
    }

    /// <summary>The role of a certificate.</summary>
    public ClusterRole RoleOf(X509Certificate2 certificate)
    {
        var names = Names(certificate).ToList();
        return viewers.Any(rule => names.Any(n => n.Kind.Equals(rule.Kind, StringComparison.OrdinalIgnoreCase)
            && rule.Value.IsMatch(n.Value)))
            ? ClusterRole.Viewer : ClusterRole.Admin;
    }

    /// <summary>Null when <paramref name="rule"/> is well formed, else why not.</summary>
    public static string? Problem(string rule)
    {
        try
        {
            Parse(rule);
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    private static (string Kind, Regex Value) Parse(string rule)
    {
        var cut = rule.IndexOfAny(['=', ':']);
        if (cut <= 0 || cut == rule.Length - 1)
        {
            throw new ArgumentException($"role rule '{rule}' must be NAME=VALUE for a subject component (OU=viewer, "
                + $"CN=ci-*) or DNS:NAME / IP:ADDRESS for a subject alternative name");
        }
        var kind = rule[..cut].Trim();
        var isSan = rule[cut] == ':';
        if (isSan && !kind.Equals("DNS", StringComparison.OrdinalIgnoreCase) && !kind.Equals("IP",
            StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"role rule '{rule}': a subject alternative name rule starts with DNS: or IP:");
        }
        var pattern = "^" + Regex.Escape(rule[(cut + 1)..].Trim()).Replace(@"\*", ".*", StringComparison.Ordinal)
            + @"\z";
        return ((isSan ? "san-" : "") + kind.ToUpperInvariant(), new Regex(pattern,
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant));
    }

    private static IEnumerable<(string Kind, string Value)> Names(X509Certificate2 certificate)
    {
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            var type = rdn.GetSingleElementType();
            var value = rdn.GetSingleElementValue();
            if (value is null) continue;
            yield return (type.FriendlyName is { Length: > 0 } name ? name.ToUpperInvariant() : type.Value ?? "",
                value);
        }
        foreach (var extension in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
        {
            foreach (var dns in extension.EnumerateDnsNames()) yield return ("san-DNS", dns);
            foreach (var ip in extension.EnumerateIPAddresses()) yield return ("san-IP", ip.ToString());
        }
    }
}
