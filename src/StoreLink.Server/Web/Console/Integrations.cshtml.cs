using Microsoft.AspNetCore.Mvc;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// The organization's integrations, for org admins: webhook subscriptions and their deliveries (redelivery), connectors
/// to the store's systems with their inbound log and commands, API keys. A frame; <c>assets/js/integrations.js</c>
/// reads and writes through the REST API, which decides who may.
/// </summary>
public sealed class IntegrationsModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public static readonly string[] Sections = ["webhooks", "connectors", "keys"];

    public string Section { get; private set; } = Sections[0];

    public override string Script => "integrations.js";

    public IActionResult OnGet(string? section)
    {
        if (section is null)
            return Redirect("/console/integrations/webhooks");
        if (!Sections.Contains(section))
            return NotFound();
        Section = section;
        return Page();
    }
}
