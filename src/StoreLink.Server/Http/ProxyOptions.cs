using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace StoreLink.Server.Http;

/// <summary>
/// <c>Http:*</c> — running behind a reverse proxy that terminates TLS. With <see cref="ForwardedHeaders"/> on, the
/// client address, scheme and host come from <c>X-Forwarded-For/Proto/Host</c> sent by a trusted proxy (loopback unless
/// <see cref="KnownProxies"/> or <see cref="KnownNetworks"/> name others): the login limits count the real client, and
/// the console cookie is <c>Secure</c> when the client came in over https. Off (the default), those headers are ignored,
/// so a client cannot forge its address.
/// </summary>
public sealed class ProxyOptions
{
    public bool ForwardedHeaders { get; set; }

    /// <summary>Addresses of the proxies whose forwarded headers are trusted (<c>10.0.0.5</c>).</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Networks of such proxies in CIDR (<c>10.0.0.0/24</c>).</summary>
    public List<string> KnownNetworks { get; set; } = [];

    /// <summary>Proxies in a row in front of the server: entries of <c>X-Forwarded-For</c> taken from the right.</summary>
    public int ForwardLimit { get; set; } = 1;

    public bool IsValid() =>
        ForwardLimit > 0 && KnownProxies.All(p => IPAddress.TryParse(p, out _)) && KnownNetworks.All(n => System.Net.IPNetwork.TryParse(n, out _));

    public ForwardedHeadersOptions ToForwardedHeadersOptions()
    {
        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor |
                               Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto |
                               Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedHost,
            ForwardLimit = ForwardLimit,
        };
        // Named proxies replace the default (loopback only).
        if (KnownProxies.Count > 0 || KnownNetworks.Count > 0)
        {
            options.KnownProxies.Clear();
            options.KnownIPNetworks.Clear();
            foreach (var proxy in KnownProxies)
                options.KnownProxies.Add(IPAddress.Parse(proxy));
            foreach (var network in KnownNetworks)
                options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        }
        return options;
    }
}
