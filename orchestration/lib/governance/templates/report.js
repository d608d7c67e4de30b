// after layout, each section and picture records its rendered size (read back by the test)
document.querySelectorAll('section').forEach(function(s){s.dataset.renderedHeight=Math.round(s.getBoundingClientRect().height)});
document.querySelectorAll('svg').forEach(function(s){s.dataset.renderedWidth=Math.round(s.getBoundingClientRect().width)});
document.body.dataset.rendered='yes';
