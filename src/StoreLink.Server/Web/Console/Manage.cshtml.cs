using Microsoft.AspNetCore.Mvc;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// Manager pages: queues, agents' capacity, business hours and SLA, canned replies of the selected store. The page is a
/// frame; <c>assets/js/manage.js</c> reads and writes through the REST API, which enforces who may change what.
/// </summary>
public sealed class ManageModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public static readonly string[] Sections = ["queues", "agents", "hours", "canned"];

    public string Section { get; private set; } = Sections[0];

    public override string Script => "manage.js";

    public IActionResult OnGet(string? section)
    {
        if (section is null)
            return Redirect("/console/manage/queues");
        if (!Sections.Contains(section))
            return NotFound();
        Section = section;
        return Page();
    }
}
